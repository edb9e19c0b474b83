"""Application code on top of the library: bundled and user pictures
(:mod:`.images`) and the inversion demo behind ``revsde invert`` (:mod:`.demo`)."""
