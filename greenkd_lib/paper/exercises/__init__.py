"""The answers to the "Try it" questions that end every notebook, computed from the runs.

Each notebook ends with two or three questions a student answers by changing a parameter or a
line; under each, a collapsed cell calls one function here (``exercises.<function>(...)``). Every
answer is computed from what the notebook already holds (its Lab rows, histories, tables) or from
runs the batch trains anyway (read back from the run store), never written down as a number, so it
holds for any profile. Each returns an :class:`Answer`: a sentence and, where it helps, the table
behind it.

The functions are named ``<notebook>_<what>`` and grouped by what they answer: ``temperature``
(``story_``: 00, ``ablation_``: 13, ``explorer_``: 14), ``figures`` (``fig1_`` ... ``fig4_``: 01-03,
09), ``tables_1_4`` (``table1_`` ... ``table4_``: 04-07), ``tables_5_8`` (``table5_`` ... ``table8_``:
08, 10-12); ``answer`` holds :class:`Answer` and the checks the answers share.

Like the rest of ``paper``, it may import the ground, ``methods``, ``engine`` and the other
``paper`` modules, never ``batch``.
"""

from .answer import Answer
from .figures import (fig1_inference_passes, fig1_other_seeds, fig2_alpha_change, fig2_top_probability, fig3_per_epoch,
                      fig3_smaller_grid, fig4_disagreements, fig4_top_confusions)
from .tables_1_4 import (table1_one_tau_grid, table1_other_students, table2_class_balance, table2_val_fraction,
                         table3_flops_per_parameter, table3_num_classes, table4_objective_gains,
                         table4_without_detection)
from .tables_5_8 import (table5_other_seeds, table5_worst_class, table6_best_synthesizer, table6_synthesis_share,
                         table7_grid_size, table7_pairs, table8_int8_drop, table8_size_ratio)
from .temperature import (ablation_narrow_range, ablation_per_sample, explorer_balanced_alpha, explorer_draws,
                          story_grid_of_size, story_tau_against_scratch)

__all__ = ["Answer", "story_tau_against_scratch", "story_grid_of_size", "fig1_other_seeds", "fig1_inference_passes",
           "fig2_top_probability", "fig2_alpha_change", "fig3_smaller_grid", "fig3_per_epoch", "table1_one_tau_grid",
           "table1_other_students", "table2_val_fraction", "table2_class_balance", "table3_num_classes",
           "table3_flops_per_parameter", "table4_without_detection", "table4_objective_gains", "table5_other_seeds",
           "table5_worst_class", "fig4_disagreements", "fig4_top_confusions", "table6_synthesis_share",
           "table6_best_synthesizer", "table7_pairs", "table7_grid_size", "table8_int8_drop", "table8_size_ratio",
           "ablation_narrow_range", "ablation_per_sample", "explorer_balanced_alpha", "explorer_draws"]

