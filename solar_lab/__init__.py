"""solar-lab: a hands-on workbook on how SOLAR 10.7B was made and how to run it."""

__version__ = "0.1.0"
