# Stand-in for vLLM 0.34.0 `vllm/logprobs.py` (NOT vLLM; see ../README.md). `FlatLogprobs`
# (only used with `SamplingParams(flat_logprobs=True)`) is left out: the stand-in refuses it.
"""Log-probability containers."""

from dataclasses import dataclass


@dataclass
class Logprob:
    """Infos for supporting OpenAI compatible logprobs and token ranks.

    Attributes:
        logprob: The logprob of chosen token
        rank: The vocab rank of chosen token (>=1)
        decoded_token: The decoded chosen token index
    """

    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


LogprobsOnePosition = dict[int, Logprob]

# {token_id -> logprob} per each sequence group. None if the corresponding
# sequence group doesn't require prompt logprob.
PromptLogprobs = list[LogprobsOnePosition | None]
# {token_id -> logprob} for each sequence group.
SampleLogprobs = list[LogprobsOnePosition]
