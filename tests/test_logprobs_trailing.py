"""vLLM's server lists the stop/EOS token in ``logprobs.content`` without printing it: P(label)
must be read the same with or without such trailing tokens."""

from hypothesis import given
from hypothesis import strategies as st

from enrich.tasks.logprobs import label_distribution, token_spans

CONTENT = '{"label": "bad"}'
ENTRIES = [{"token": '{"', "logprob": 0.0}, {"token": "label", "logprob": 0.0},
           {"token": '":', "logprob": 0.0}, {"token": ' "', "logprob": 0.0},
           {"token": "bad", "logprob": -0.2, "top_logprobs": [
               {"token": "bad", "logprob": -0.2}, {"token": "good", "logprob": -1.8}]},
           {"token": '"}', "logprob": 0.0}]


@given(trailing=st.lists(st.sampled_from(["<|im_end|>", "</s>", "", "<|eot_id|>", "\n"]),
                         min_size=1, max_size=3))
def test_trailing_stop_tokens_do_not_hide_the_label_distribution(trailing: list[str]) -> None:
    extra = [{"token": t, "logprob": -0.01} for t in trailing]
    labels = ["good", "partial", "bad"]
    assert label_distribution(ENTRIES + extra, CONTENT, "label", labels) == \
        label_distribution(ENTRIES, CONTENT, "label", labels)


def test_tokens_that_do_not_spell_the_content_are_still_refused() -> None:
    assert token_spans([{"token": '{"lab'}, {"token": "X"}], '{"label"}') is None
    assert token_spans([{"token": "ab"}], "abc") is None
