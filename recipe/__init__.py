"""How composer's bundled model was made: the corpus build, evaluation and shipping scripts.

Not part of the installed package; run the scripts from a checkout (see recipe/README.md).
"""
