#!/usr/bin/env python3
"""Generate a synthetic output/ tree of grade files for the aggregation benchmarks.

The tree follows heatmapd's layout: output/<model_dir>/<session>/ contains
session.json, one answer <model_dir>.t<temp>,num<id>.txt per item and its
grade <stem>_eval.json. Accuracies come from a seeded random generator, so two
runs with the same arguments write the same tree.
"""

import argparse
import json
import os
import random

MODELS = ["gemma3:1b", "llama3.2:3b", "qwen2.5:7b-instruct", "mistral:7b"]
CATEGORIES = ["geography", "history", "science", "math", "literature"]
SESSION = "20260101_120000"


def sanitize(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def temp_tag(tenths):
    return f"{tenths:02d}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", help="output/ folder to create")
    parser.add_argument("--grades", type=int, default=100_000, help="number of grade files")
    parser.add_argument("--temps", type=int, default=21, help="temperatures 0.0, 0.1, ...")
    parser.add_argument("--no-answers", action="store_true", help="skip the .txt answer files")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    per_model = -(-args.grades // len(MODELS))
    prompts = -(-per_model // args.temps)
    written = 0
    for model in MODELS:
        model_dir = sanitize(model)
        session_dir = os.path.join(args.output, model_dir, SESSION)
        os.makedirs(session_dir, exist_ok=True)
        temps = [round(i * 0.1, 6) for i in range(args.temps)]
        with open(os.path.join(session_dir, "session.json"), "w") as f:
            json.dump({"model": model, "backend": "ollama", "temperatures": temps}, f)
        for prompt in range(1, prompts + 1):
            category = CATEGORIES[prompt % len(CATEGORIES)]
            for tenths in range(args.temps):
                if written >= args.grades:
                    return
                temperature = round(tenths * 0.1, 6)
                stem = f"{model_dir}.t{temp_tag(tenths)},num{prompt}"
                p_correct = max(0.05, 0.9 - 0.03 * tenths)
                correct = rng.random() < p_correct
                grade = {
                    "model": model,
                    "temperature": temperature,
                    "prompt_id": str(prompt),
                    "session": SESSION,
                    "grader": "judge:llama3.1:8b",
                    "accuracy": 1.0 if correct else 0.0,
                    "correct": correct,
                    "category": category,
                    "justification": "The answer names the expected city and gives no"
                    " contradicting detail." if correct else "The answer names a"
                    " different city than the expected one.",
                    "expected": f"answer {prompt}",
                }
                if not args.no_answers:
                    with open(os.path.join(session_dir, stem + ".txt"), "w") as f:
                        f.write(f"Answer to prompt {prompt} at temperature {temperature}.\n")
                with open(os.path.join(session_dir, stem + "_eval.json"), "w") as f:
                    json.dump(grade, f)
                written += 1


if __name__ == "__main__":
    main()
