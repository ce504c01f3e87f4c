"""The LLM-free sleep flow that mains (outside queue mode) and workers run: the question is a
number of milliseconds to sleep; `fail` makes the flow fail."""


class FlowFailed(Exception):
    pass


def sleep_seconds(question: str) -> float:
    if question == "fail":
        raise FlowFailed("the flow failed, as asked")
    return int(question) / 1000 if question.isdigit() else 0.0


def answer(question: str) -> dict:
    return {"text": f"slept {question if question.isdigit() else 0} ms", "question": question}
