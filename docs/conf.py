"""Sphinx settings of the course site. tools/site.py copies this folder next to the notebooks and builds it."""

from solar_lab.project import BRANCH, repository_url

project = "solar-lab"
html_title = "solar-lab: how SOLAR 10.7B was made"
extensions = ["myst_nb", "sphinx.ext.githubpages"]  # githubpages writes .nojekyll, so _static is served

nb_execution_mode = "off"  # pages show the outputs `make notebooks` stored; nothing runs here
# Widgets need a kernel: show their text, where tools/notebooks.py stores a bar's final line or a control's value.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_context = {"default_mode": "auto"}  # light or dark as the reader's system says (the theme logs an error without it)
html_js_files = ["plotly.min.js"]  # written by tools/site.py from the plotly package: the site needs no CDN
html_theme_options = {
    "repository_url": repository_url(),
    "repository_branch": BRANCH,
    "path_to_docs": "notebooks",  # where the pages' notebooks sit in the repository, for the Colab button
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
exclude_patterns = ["lessons.md", "**.ipynb_checkpoints"]  # lessons.md is written by tools/site.py and included
