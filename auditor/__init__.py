"""subinterp-audit: does an extension module work in CPython subinterpreters?"""

__version__ = "0.1.0"
