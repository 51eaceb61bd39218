"""`compose studio`: a local web page to generate, see, hear and keep takes (offline).

app.py (the Starlette app and its JSON API), actions.py (what the page can ask the model to
do), jobs.py (generation off the request threads, with progress and Stop), takes.py (the takes
folder), roll.py (a take as the page draws it), server.py (the port, uvicorn, the browser),
static/ (the page, and the vendored synthesizer with its licences); export.py: `compose render`
and `compose export` (WAV, MusicXML, a piano-roll PNG).
"""
