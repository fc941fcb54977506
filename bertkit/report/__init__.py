"""The run report: `build_report(run_dir)` writes `RUN/report/` (PNG plots and a self-contained
`index.html`): training curves, token lengths against max_seq_length, and the task's own analysis
(for classification: confusion matrix, ROC / PR, calibration, per-class scores, confident mistakes).

matplotlib is the optional `report` extra; it is imported only when a report is built.
"""

from bertkit.report.build import REPORT_DIR, build_report
from bertkit.report.predictions import MAX_EXAMPLES, PREDICTIONS_FILE, save_eval_predictions

__all__ = ["MAX_EXAMPLES", "PREDICTIONS_FILE", "REPORT_DIR", "build_report",
           "save_eval_predictions"]
