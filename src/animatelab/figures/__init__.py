"""Paper figures and tables, drawn from metrics files only (``metrics/*.json``, ``metrics/probes``).

``metrics`` reads runs whatever exists (missing runs are skipped and named), ``style`` fixes one
look at paper column width, one module per figure family, ``tables`` writes LaTeX + Markdown,
``build.build_all`` draws everything (the ``figures`` stage and the notebooks call it).
"""
