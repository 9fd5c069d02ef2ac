"""Stage ``figures``: paper figures, tables and ``reports/README.md`` from metrics files only."""

from __future__ import annotations

from animatelab.config import Params
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import matplotlib
    import mlflow

    matplotlib.use("Agg")  # files only; notebooks keep their inline backend
    from animatelab.figures import summary
    from animatelab.figures.build import build_all
    from animatelab.figures.metrics import MetricsStore
    from animatelab.reports_readme import write_readme

    p = params.figures
    with stage_run("figures", {"figures": p.model_dump()}, args.run):
        manifest = build_all(p)
        readme = write_readme(p, manifest)
        if p.summary_file is not None:
            headline = summary.headline(p.summary, MetricsStore.load(p.metrics_dir))
            summary.write(p.summary_file, headline)
            mlflow.log_metrics({f"summary/{k}": v for k, v in headline.items() if v is not None})
        mlflow.log_metrics({"figures": len(manifest["figures"]), "tables": len(manifest["tables"]), "missing": len(manifest["missing"])})
        for path in [*manifest["figures"], *manifest["tables"], str(readme)]:
            if path.endswith((".png", ".md", ".tex")):
                mlflow.log_artifact(path, "reports")
        for m in manifest["missing"]:
            print(f"figures: missing {m}")
