"""PPO from first principles: a LoRA policy, a value head on its backbone, a frozen reference.

One PPO step, top to bottom:

1. **Rollout.** Sample a reply to each prompt from the current policy (`rollout`).
2. **Score.** A plain reward function scores each reply; the score lands on the reply's last
   token. Every token also pays `kl_coef` times its log-ratio to the reference model, so the
   policy is pulled back towards what SFT taught whenever it drifts (`token_rewards`).
3. **Advantages.** The value head predicts, at every token, the return still to come;
   generalised advantage estimation (`gae`) turns rewards and values into advantages (how much
   better a token did than expected) and returns (the value head's targets).
4. **Update.** Several epochs over minibatches of the rollout: the clipped surrogate keeps
   each update within `clip` of the policy that sampled the rollout (`clipped_surrogate`); the
   value head learns with a clipped value loss (`clipped_value_loss`).

The reference is the SFT adapter itself, loaded a second time and kept frozen
(`load_policy_and_reference`): the policy and the reference share one base model and differ by
which adapter is active, so PPO needs no second copy of an 8B model.

For the MedLLM second stage: SFT, then PPO on MedQA.

Introduced in notebooks/05_ppo_mcq.ipynb.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from medlab.env import training_peak_mb
from medlab.generation import Sampling, cut_at_stop, end_token_ids, generate_ids, position_ids, render_prompts
from medlab.runlog import write_json
from medlab.training import recipe_key, run_key, upcast_trainable


@dataclass(frozen=True)
class PPOConfig:
    """One PPO recipe; the defaults are HuatuoGPT-o1's clip and KL, and the course's sizes."""

    learning_rate: float = 1e-5
    value_learning_rate: float = 1e-3  # the value head starts from nothing and must catch up fast
    batch_size: int = 8  # prompts per rollout
    minibatch_size: int = 4  # replies per gradient step
    ppo_epochs: int = 2  # passes over each rollout
    clip: float = 0.2  # the surrogate's epsilon
    value_clip: float = 0.2
    kl_coef: float = 0.03  # per-token penalty on log(policy / reference)
    gamma: float = 1.0  # no discount inside one reply: only the answer is rewarded
    # 1.0: each token's advantage is the reply's return minus its value. Below 1, GAE trusts the
    # value head's estimates of later tokens, noise while the head is new: on the pocket model
    # 0.95 gave the answer token, early in the reply, little of the reward, and reward fell.
    lam: float = 1.0
    value_coef: float = 0.5
    max_grad_norm: float = 1.0
    max_new_tokens: int = 24
    temperature: float = 1.0  # the policy's distribution as it is: PPO's ratios are taken under it
    min_p: float = 0.0  # sampling only: cut tokens below min_p x the likeliest (see notebook 05)

    def __post_init__(self):
        if self.batch_size < MIN_WHITENED:
            raise ValueError(
                f"a PPO rollout of {self.batch_size} replies: advantages are whitened over the rollout, and over "
                f"fewer than {MIN_WHITENED} a tie turns right answers' positive advantages negative. Sample at "
                f"least {MIN_WHITENED} replies per rollout and keep small gradient steps with minibatch_size")
        if self.batch_size % self.minibatch_size:
            raise ValueError(f"minibatch_size {self.minibatch_size} does not divide batch_size {self.batch_size}")

    def key(self) -> str:
        return recipe_key(self)


def card_settings(config: PPOConfig, seed: int) -> dict:
    """What a PPO adapter's model card lists of its run (`training.CARD_SETTINGS` for TRL's runs)."""
    return {**asdict(config), "seed": seed}


MIN_WHITENED = 8
"""Fewest replies per rollout. Advantages are whitened (mean 0, spread 1) over a rollout; over
two replies that both scored 1.0, raw advantages of +0.3 to +0.5 came out at -0.22 on average
for one of them, tokens down to -1.95. TRL's PPO refused rollouts below 8; HuatuoGPT-o1's had 16."""


# ---- the arithmetic, on tensors ----------------------------------------------------------------

def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float,
        mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation: `(advantages, returns)` for per-token `rewards` and
    `values` of one episode (1-D) or a batch (2-D, with `mask` marking real tokens).

    The value after an episode's last token is 0. With delta_t = r_t + gamma V_{t+1} - V_t,
    A_t = delta_t + gamma lam A_{t+1}, and the return the value head learns is A_t + V_t.

    >>> a, r = gae(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 0.5, 0.5]), gamma=1.0, lam=1.0)
    >>> a.tolist(), r.tolist()
    ([0.5, 0.5, 0.5], [1.0, 1.0, 1.0])
    """
    single = rewards.dim() == 1
    rewards, values = (rewards[None], values[None]) if single else (rewards, values)
    mask = torch.ones_like(rewards) if mask is None else mask.to(rewards.dtype)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] * mask[:, t + 1] if t + 1 < rewards.shape[1] else 0.0
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    returns = advantages + values * mask
    return (advantages[0], returns[0]) if single else (advantages, returns)


def whiten(x: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """`x` shifted to mean 0 and scaled to variance 1 over the masked entries: one learning rate
    then suits every reward scale.

    >>> whiten(torch.tensor([1.0, 2.0, 3.0])).tolist()
    [-1.2247447967529297, 0.0, 1.2247447967529297]
    """
    mask = torch.ones_like(x) if mask is None else mask.to(x.dtype)
    mean = (x * mask).sum() / mask.sum()
    var = (((x - mean) ** 2) * mask).sum() / mask.sum()
    return (x - mean) * torch.rsqrt(var + eps) * mask


def kl_estimate(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from sampled tokens: log p - log q.

    Its mean over tokens sampled from the policy is the KL divergence; one token's value can
    be negative.

    >>> kl_estimate(torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])).tolist()
    [0.5, -1.0]
    """
    return logprobs - ref_logprobs


def clipped_surrogate(logprobs, old_logprobs, advantages, clip: float, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """The PPO policy loss and the share of tokens whose ratio was clipped.

    The ratio pi/pi_old multiplies each advantage, but never beyond [1 - clip, 1 + clip] in the
    direction that would help: one rollout cannot push the policy far from the one that sampled it.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clip_fraction = masked_mean((clipped > unclipped).float(), mask)
    return loss, clip_fraction


def clipped_value_loss(values, old_values, returns, clip: float, mask) -> torch.Tensor:
    """Squared error to the returns, with the new values kept within `clip` of the old ones."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def token_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """Per-token rewards: the KL penalty on every token, the reply's score on its last one."""
    rewards = -kl_coef * kl * mask
    last = (torch.arange(mask.shape[1], device=mask.device) * mask).argmax(dim=1)  # the last 1 of each row
    rewards[torch.arange(len(scores)), last] += scores
    return rewards


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns): 1 is a perfect critic, 0 one that knows nothing."""
    var_returns = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    residual = returns - values
    var_residual = masked_mean((residual - masked_mean(residual, mask)) ** 2, mask)
    return float(1 - var_residual / var_returns.clamp(min=1e-8))


# ---- the models ----------------------------------------------------------------------------

class ValueHead(nn.Module):
    """A linear layer on the policy's last hidden state: the critic shares the policy's
    backbone, so it costs one vector of weights instead of a second model."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)  # start with no opinion: every value 0
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.float()).squeeze(-1)


def load_policy_and_reference(base_model, sft_adapter: str):
    """The SFT adapter twice on one base: "policy" (trainable, float32) and "reference" (frozen)."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(base_model, sft_adapter, adapter_name="policy", is_trainable=True)
    model.load_adapter(sft_adapter, adapter_name="reference")
    model.set_adapter("policy")
    upcast_trainable(model)
    return model


def reference_forward(model, sequences, attention, width: int, temperature: float) -> torch.Tensor:
    """Log-probabilities of the reply tokens under the reference: the frozen "reference"
    adapter where there is one, else the base model with the adapter switched off."""
    with torch.no_grad():
        if "reference" in getattr(model, "peft_config", {}):
            model.set_adapter("reference")
            try:
                return policy_forward(model, None, sequences, attention, width, temperature)[0]
            finally:
                model.set_adapter("policy")  # also makes "policy" the trainable one again
        with model.disable_adapter():
            return policy_forward(model, None, sequences, attention, width, temperature)[0]


def policy_forward(model, value_head, sequences, attention, width: int, temperature: float):
    """For each of the last `width` tokens (the reply): its log-probability, the value head's
    estimate of the state before it (None without a head) and the entropy of the distribution
    it was drawn from.

    Only the reply's positions go through the output layer: with a 130-token MCQ prompt and a
    24-token reply, that is a sixth of the work."""
    out = model(input_ids=sequences, attention_mask=attention, position_ids=position_ids(attention),
                logits_to_keep=width + 1, output_hidden_states=value_head is not None)
    logp = (out.logits[:, :-1].float() / temperature).log_softmax(-1)  # position t predicts token t + 1
    logprobs = logp.gather(-1, sequences[:, -width:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    values = None
    if value_head is not None:  # the critic reads the policy's features but does not train them
        values = value_head(out.hidden_states[-1][:, -width - 1:-1].detach())
    return logprobs, values, entropy


# ---- one PPO step ------------------------------------------------------------------------------

@dataclass
class Rollout:
    """A batch of sampled replies with everything the update needs. Each row is its prompt,
    left-padded, then its reply, right-padded: the replies line up in the last `width` columns,
    and every per-token tensor covers those columns only."""

    sequences: torch.Tensor  # prompt + reply token ids
    attention: torch.Tensor
    mask: torch.Tensor  # 1 on real reply tokens, 0 on padding
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    scores: torch.Tensor  # the reward function's score per reply
    replies: list[str]

    @property
    def width(self) -> int:
        return self.mask.shape[1]


def rollout(model, value_head, tokenizer, conversations: list[list[dict]], reward_fn, columns: dict,
            config: PPOConfig) -> Rollout:
    """Sample one reply per conversation from the policy and score it; `columns` are the
    dataset columns the reward function reads, one list entry per conversation."""
    prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in render_prompts(tokenizer, conversations)]
    sampling = Sampling(max_new_tokens=config.max_new_tokens, do_sample=True, temperature=config.temperature,
                        min_p=config.min_p)
    model.eval()
    stops = end_token_ids(model, tokenizer)
    replies_ids = [cut_at_stop(ids, stops) or [tokenizer.eos_token_id]  # the stop is kept: stopping is learned too
                   for ids in generate_ids(model, tokenizer, prompts, sampling)]
    replies = [tokenizer.decode(ids, skip_special_tokens=True) for ids in replies_ids]
    scores = torch.tensor(reward_fn(completions=replies, **columns), dtype=torch.float32, device=model.device)
    sequences, attention, mask = pad_both_sides(prompts, replies_ids, tokenizer.pad_token_id, model.device)
    width = mask.shape[1]
    with torch.no_grad():
        logprobs, values, _ = policy_forward(model, value_head, sequences, attention, width, config.temperature)
    ref_logprobs = reference_forward(model, sequences, attention, width, config.temperature)
    return Rollout(sequences, attention, mask, logprobs, ref_logprobs, values, scores, replies)


def pad_both_sides(prompts: list[list[int]], replies: list[list[int]], pad: int, device):
    """Prompts padded on the left and replies on the right, so that every reply starts in the
    same column; the attention mask, and the mask of real reply tokens.

    >>> seqs, attn, mask = pad_both_sides([[5, 6], [7]], [[8], [9, 10]], pad=0, device="cpu")
    >>> seqs.tolist(), mask.tolist()
    ([[5, 6, 8, 0], [0, 7, 9, 10]], [[1.0, 0.0], [1.0, 1.0]])
    """
    prompt_width, width = max(map(len, prompts)), max(map(len, replies))
    sequences = [[pad] * (prompt_width - len(p)) + p + r + [pad] * (width - len(r)) for p, r in zip(prompts, replies,
                                                                                                     strict=True)]
    attention = [[0] * (prompt_width - len(p)) + [1] * (len(p) + len(r)) + [0] * (width - len(r))
                 for p, r in zip(prompts, replies, strict=True)]
    mask = [[1.0] * len(r) + [0.0] * (width - len(r)) for r in replies]
    as_tensor = lambda rows, dtype: torch.tensor(rows, dtype=dtype, device=device)  # noqa: E731
    return as_tensor(sequences, torch.long), as_tensor(attention, torch.long), as_tensor(mask, torch.float32)


def ppo_update(model, value_head, optimizer, batch: Rollout, config: PPOConfig) -> dict[str, float]:
    """Advantages from the rollout, then `ppo_epochs` passes of clipped updates over minibatches."""
    kl = kl_estimate(batch.logprobs, batch.ref_logprobs)
    rewards = token_rewards(batch.scores, kl, batch.mask, config.kl_coef)
    advantages, returns = gae(rewards, batch.values, config.gamma, config.lam, batch.mask)
    advantages = whiten(advantages, batch.mask)
    params = [p for p in model.parameters() if p.requires_grad] + list(value_head.parameters())
    model.train()
    totals: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "clip_fraction": [], "approx_kl": [],
                                      "entropy": []}
    for _ in range(config.ppo_epochs):
        for idx in torch.randperm(len(batch.scores)).split(config.minibatch_size):
            mask = batch.mask[idx]
            logprobs, values, entropy = policy_forward(model, value_head, batch.sequences[idx], batch.attention[idx],
                                                       batch.width, config.temperature)
            policy_loss, clip_fraction = clipped_surrogate(logprobs, batch.logprobs[idx], advantages[idx],
                                                           config.clip, mask)
            value_loss = clipped_value_loss(values, batch.values[idx], returns[idx], config.value_clip, mask)
            optimizer.zero_grad()
            (policy_loss + config.value_coef * value_loss).backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            for key, value in (("policy_loss", policy_loss), ("value_loss", value_loss),
                               ("clip_fraction", clip_fraction),
                               ("approx_kl", masked_mean(0.5 * (logprobs - batch.logprobs[idx]) ** 2, mask)),
                               ("entropy", masked_mean(entropy, mask))):
                totals[key].append(float(value.detach()))
    return {"reward": float(batch.scores.mean()), "kl": float(masked_mean(kl, batch.mask)),
            **{key: sum(v) / len(v) for key, v in totals.items()},
            "explained_variance": explained_variance(batch.values, returns, batch.mask),
            "response_length": float(batch.mask.sum(1).mean())}


# ---- the run: steps, a log, checkpoints ---------------------------------------------------------

def train_ppo(model, value_head, tokenizer, conversations: list[list[dict]], columns: dict[str, list], reward_fn,
              config: PPOConfig, steps: int, log_path: Path, checkpoints: Path, seed: int = 0,
              save_every: int = 5, start: str = "") -> dict[str, list[float]]:
    """`steps` rollouts and updates on prompts drawn in a seeded order. Every step is logged to
    `log_path` (as the SFT monitor does); a checkpoint every `save_every` steps lets a crashed
    run resume where it stopped. `start` names the adapter the policy starts from (its weights'
    digest, `adapters.adapter_digest`): with the recipe, length, seed and questions it says which
    run a checkpoint belongs to. Not the weights in memory: a cell run again after Ctrl+C holds
    a policy that trained on. Returns the log."""
    from trl.trainer.utils import disable_dropout_in_model  # TRL's GRPO does the same (`disable_dropout`)

    # Dropout off for good (p = 0), not through eval(), which would also switch gradient
    # checkpointing off: the update's probabilities must be the sampler's (LoRA's 0.05 gave
    # ratios of 0.74-1.35 at a learning rate of 0)
    if steps < 1:
        raise ValueError(f"{steps} PPO steps: give 1 or more (a run of none would save the start adapter as PPO's)")
    disable_dropout_in_model(model)
    # the run: its recipe, length and seed, its questions, and the adapter it starts from
    this_run = run_key({**asdict(config), "steps": steps, "seed": seed}, [{"conversations": conversations, **columns}],
                       [start])
    optimizer = torch.optim.AdamW([
        {"params": [p for p in model.parameters() if p.requires_grad], "lr": config.learning_rate},
        {"params": list(value_head.parameters()), "lr": config.value_learning_rate},
    ])
    start, log = resume(checkpoints, model, value_head, optimizer, steps, this_run)
    order = random.Random(seed).sample(range(len(conversations)), len(conversations))  # one seeded pass order
    progress = tqdm(range(start, steps), desc="PPO", initial=start, total=steps, mininterval=2)
    for step in progress:
        picked = [order[(step * config.batch_size + k) % len(order)] for k in range(config.batch_size)]
        started = time.time()
        batch = rollout(model, value_head, tokenizer, [conversations[i] for i in picked], reward_fn,
                        {name: [values[i] for i in picked] for name, values in columns.items()}, config)
        stats = ppo_update(model, value_head, optimizer, batch, config)
        stats.update(step=step + 1, tokens_per_second=round(float(batch.mask.sum()) / (time.time() - started), 1),
                     peak_memory_mb=training_peak_mb())
        for key, value in stats.items():
            log.setdefault(key, []).append(value)
        progress.set_postfix(reward=f"{stats['reward']:.2f}", kl=f"{stats['kl']:.3f}", refresh=False)
        write_json(log_path, log, indent=None)
        if (step + 1) % save_every == 0 and step + 1 < steps:
            save_checkpoint(checkpoints, model, value_head, optimizer, step + 1, steps, log, this_run)
    shutil.rmtree(checkpoints, ignore_errors=True)  # finished: a new run starts afresh
    return log


STATE_FILES = ("state-a.pt", "state-b.pt")
"""PPO's checkpoint, in two files written in turn over the same names: on Google Drive a file
replaced by a rename goes to the trash and still counts against the quota, and a save cut off
by a disconnect leaves the other file whole."""


def save_checkpoint(folder: Path, model, value_head, optimizer, step: int, steps: int, log: dict,
                    key: str | None = None) -> Path:
    """The trainable weights (adapter and value head), the optimiser, the log and the RNG, at
    `step` of a run of `steps` (the run `key`), over the older of the two state files; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"step": step, "steps": steps, "key": key, "log": log, "optimizer": optimizer.state_dict(),
             "value_head": value_head.state_dict(),
             "trainable": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
             "rng": random_states()}
    path = folder / min(STATE_FILES, key=lambda name: saved_step(folder / name))
    torch.save(state, path)
    return path


def saved_step(path: Path) -> int:
    """The step a state file holds (-1: none, or a save cut off). Reads the whole file, a few
    MB of adapter and optimiser state: both files at each save."""
    state = load_state(path)
    return state["step"] if state else -1


def load_state(path: Path) -> dict | None:
    # weights_only: tensors and plain values only. A full unpickler would run whatever code a
    # planted state file names (on Colab the folder lives on Google Drive).
    try:
        return torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError):  # missing, or cut off mid-write
        return None


def resume(folder: Path, model, value_head, optimizer, steps: int, key: str | None = None) -> tuple[int, dict]:
    """The step and log to continue from: the newest whole checkpoint's, or (0, {}) for a fresh
    run. The folder is named after the config only, so another run (another length, seed or set
    of questions, another start adapter: another `key`) may have left one there: it is never
    resumed."""
    mine = []
    for path in (folder / name for name in STATE_FILES):
        state = load_state(path)
        if state and (state.get("steps"), state.get("key")) == (steps, key):
            mine.append(state)
        elif state:  # removed, so that this run's saves never overwrite its own newer file instead
            print(f"{path}: a checkpoint of another run (another length, seed, data or start): removed")
            path.unlink()
    if not mine:
        return 0, {}
    state = max(mine, key=lambda state: state["step"])
    model.load_state_dict(state["trainable"], strict=False)
    value_head.load_state_dict(state["value_head"])
    optimizer.load_state_dict(state["optimizer"])
    restore_random_states(state["rng"])
    print(f"resuming from step {state['step']} ({folder})")
    return state["step"], state["log"]


def random_states() -> dict:
    """Every random generator a run draws from: Python's, NumPy's, torch's on the CPU and on each
    GPU (sampling on a GPU draws from the GPU's), as plain values `torch.load(weights_only=True)` reads."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position,
                                                   has_gauss, gauss],
            "torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def restore_random_states(states: dict) -> None:
    """Put back what `random_states` saved, so a resumed run draws what the crashed one would have."""
    random.setstate(states["python"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
