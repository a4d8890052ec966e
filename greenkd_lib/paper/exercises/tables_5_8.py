"""The answers of the notebooks of Tables 5 to 8 (notebooks 08, 10, 11, 12): metrics, data-free KD,
teacher-student pairs, quantization against KD."""

from __future__ import annotations

import pandas as pd

from .answer import Answer, _need


# -- 08_table5 ----------------------------------------------------------------------------------


def table5_other_seeds(per_seed: pd.DataFrame) -> Answer:
    """Per seed: the three models ranked by accuracy (does the first seed's order hold?)."""
    _need(per_seed, "per_seed", ("row", "seed", "accuracy"))
    out = [{"seed": s, "ranking (accuracy)": " > ".join(g.sort_values("accuracy", ascending=False)["row"]),
            **{r: a for r, a in zip(g["row"], g["accuracy"])}} for s, g in per_seed.groupby("seed")]
    table = pd.DataFrame(out)
    orders = table["ranking (accuracy)"].unique()
    return Answer(("Every seed ranks the models the same way: " + orders[0]) if len(orders) == 1 else
                  f"The ranking changes with the seed ({len(orders)} different orders over {len(table)} seeds): "
                  "look at the standard deviations before reading a gap as real.", table)


def table5_worst_class(f1: pd.DataFrame) -> Answer:
    """Per model: the class with the lowest F1 (``f1``: classes as rows, models as columns)."""
    from ..display import arm_name

    table = pd.DataFrame({"model": [arm_name(c) for c in f1.columns], "worst class": [str(f1[c].idxmin()) for c in f1],
                          "its F1 (%)": [float(f1[c].min()) for c in f1]})
    same = table["worst class"].nunique() == 1
    return Answer(("All models find the same class hardest: " + table["worst class"].iloc[0] + ".") if same else
                  "The models find different classes hardest: " + ", ".join(
                      f"{m}: {c}" for m, c in zip(table["model"], table["worst class"])) + ".", table)


# -- 10_table6 ----------------------------------------------------------------------------------


def table6_synthesis_share(measured: pd.DataFrame) -> Answer:
    """Per synthesizer: the share of ours' cost spent synthesizing images."""
    _need(measured, "measured", ("synthesizer", "method", "synthesis_share", "co2_g"))
    table = measured[measured["method"] == "ours"][["synthesizer", "synthesis_share", "co2_g"]].reset_index(drop=True)
    top = table.loc[table["synthesis_share"].idxmax()]
    return Answer(f"Synthesis takes up to {100 * top['synthesis_share']:.0f} % of a stochastic run's cost ({top['synthesizer']}); "
                  "the saving of one training instead of a grid applies to that part too.", table)


def table6_best_synthesizer(measured: pd.DataFrame) -> Answer:
    """Per synthesizer: ours minus tuned (score) and tuned over ours (CO2)."""
    _need(measured, "measured", ("synthesizer", "method", "score_mean", "co2_g"))
    keys = [c for c in ("dataset", "synthesizer") if c in measured.columns]
    wide = measured.pivot_table(index=keys, columns="method", values=["score_mean", "co2_g"], sort=False)
    table = pd.DataFrame({"ours - tuned (points)": wide[("score_mean", "ours")] - wide[("score_mean", "tuned")],
                          "CO2 tuned / ours": wide[("co2_g", "tuned")] / wide[("co2_g", "ours")]}).reset_index()
    best = table.loc[table["ours - tuned (points)"].idxmax()]
    return Answer(f"Keeping only {best['synthesizer']} would keep the best case for ours: "
                  f"{best['ours - tuned (points)']:+.2f} points against tuned, for {best['CO2 tuned / ours']:.1f} times "
                  "less CO2.", table)


# -- 11_table7 ----------------------------------------------------------------------------------


def table7_pairs(table: pd.DataFrame) -> Answer:
    """The pair with the largest and the smallest saving, and its accuracy gap."""
    _need(table, "table", ("pair", "CO2 tuned / ours", "ours - tuned acc"))
    view = table[["pair", "CO2 tuned / ours", "ours - tuned acc"]]
    hi, lo = view.loc[view["CO2 tuned / ours"].idxmax()], view.loc[view["CO2 tuned / ours"].idxmin()]
    return Answer(f"The saving is largest for {hi['pair']} ({hi['CO2 tuned / ours']:.1f} times less CO2, "
                  f"{hi['ours - tuned acc']:+.2f} points) and smallest for {lo['pair']} ({lo['CO2 tuned / ours']:.1f} "
                  f"times, {lo['ours - tuned acc']:+.2f} points).", view.reset_index(drop=True))


def table7_grid_size(table: pd.DataFrame, grid_size: int) -> Answer:
    """How close each pair's CO2 ratio is to the grid size (one training per tau against one)."""
    _need(table, "table", ("pair", "CO2 tuned / ours"))
    view = table[["pair", "CO2 tuned / ours"]].copy()
    view["ratio / grid size"] = view["CO2 tuned / ours"] / grid_size
    far = view.loc[(view["ratio / grid size"] - 1).abs().idxmax()]
    return Answer(f"With a grid of {grid_size} taus the ratio would be {grid_size} if every training cost the same; "
                  f"the farthest pair is {far['pair']} at {far['ratio / grid size']:.2f} times that (trainings at "
                  "different taus do not cost exactly the same, and the machine's load varies).", view)


# -- 12_table8 ----------------------------------------------------------------------------------


def table8_int8_drop(t8: pd.DataFrame) -> Answer:
    """Each int8 model's accuracy against the float model it was made from."""
    _need(t8, "t8", ("method", "precision", "accuracy", "float_run", "size_mb"))
    floats = t8[t8["precision"] == "fp32"].set_index("float_run")
    int8 = t8[t8["precision"] == "int8"]
    table = pd.DataFrame({"method": int8["method"].to_numpy(), "accuracy": int8["accuracy"].to_numpy(),
                          "float accuracy": floats.loc[int8["float_run"], "accuracy"].to_numpy(),
                          "size / float size": (int8["size_mb"].to_numpy() / floats.loc[int8["float_run"], "size_mb"].to_numpy())})
    table["change (points)"] = table["accuracy"] - table["float accuracy"]
    best = table.loc[table["change (points)"].idxmax()]
    return Answer(f"{best['method']} loses the least against its float model ({best['change (points)']:+.2f} points) "
                  f"at {best['size / float size']:.2f} of its size.", table)


def table8_size_ratio(t8: pd.DataFrame) -> Answer:
    """How many times smaller than the teacher each model is on disk."""
    _need(t8, "t8", ("method", "size_mb", "accuracy"))
    teacher = t8[t8["method"].str.contains("teacher", case=False)]
    if teacher.empty:
        raise ValueError("t8 has no teacher row; run the Table 8 cell above first")
    table = t8[["method", "accuracy", "size_mb"]].copy()
    table["teacher size / size"] = float(teacher["size_mb"].iloc[0]) / table["size_mb"]
    small = table.loc[table["size_mb"].idxmin()]
    return Answer(f"The smallest model, {small['method']}, is {small['teacher size / size']:.1f} times smaller than the "
                  f"teacher, at {small['accuracy']:.2f} % accuracy.", table)
