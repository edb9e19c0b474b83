"""Application code on top of the library: bundled and user pictures
(:mod:`.images`), the inversion demo behind ``revsde invert`` (:mod:`.demo`) and its
``--model DIR`` job with a local diffusers folder (:mod:`.invert_model`).

The library (everything in :mod:`revsde` outside this package and the command line)
never imports from here."""
