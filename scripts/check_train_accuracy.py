"""Fail unless ``numbaconv train``'s output shows a final validation accuracy >= a minimum.

CI (``.ci/run``) runs the README's main command and checks its result with this script, so the
README's "about 99 %" is a checked claim and not only an exit status::

    numbaconv train | tee train.log
    python scripts/check_train_accuracy.py train.log --minimum 0.98

The accuracy is read from the last row of fastai's epoch table, in the column headed
``accuracy``.
"""

from __future__ import annotations

import argparse
import sys


def final_accuracy(text: str) -> float:
    """The ``accuracy`` column of the epoch table's last row; ValueError when there is none."""
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if line.split()[:1] == ["epoch"]]
    if not headers:
        raise ValueError("no epoch table (a line starting with 'epoch') in the output")
    columns = lines[headers[-1]].split()
    if "accuracy" not in columns:
        raise ValueError(f"the epoch table has no accuracy column: {columns}")
    position = columns.index("accuracy")
    rows = []
    for line in lines[headers[-1] + 1 :]:
        cells = line.split()
        if not cells or not cells[0].isdigit() or len(cells) <= position:
            break
        rows.append(float(cells[position]))
    if not rows:
        raise ValueError("the epoch table has no rows")
    return rows[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="a file holding the output of numbaconv train")
    parser.add_argument("--minimum", type=float, required=True, help="e.g. 0.98")
    args = parser.parse_args(argv)
    with open(args.log, encoding="utf-8") as file:
        text = file.read()
    try:
        accuracy = final_accuracy(text)
    except ValueError as exc:
        print(f"check_train_accuracy: {args.log}: {exc}", file=sys.stderr)
        return 1
    if accuracy < args.minimum:
        print(
            f"check_train_accuracy: final validation accuracy {accuracy} is below {args.minimum}",
            file=sys.stderr,
        )
        return 1
    print(f"final validation accuracy {accuracy} >= {args.minimum}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
