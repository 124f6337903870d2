"""PPO's arithmetic on hand-computed numbers, and a run that must raise the reward."""

import math
import pickle

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab.ppo import (
    PPOConfig,
    ValueHead,
    clipped_surrogate,
    clipped_value_loss,
    gae,
    kl_estimate,
    token_rewards,
    train_ppo,
    whiten,
)


def test_gae_on_a_three_token_episode():
    # By hand, gamma 0.9, lambda 0.8, the value after the last token 0:
    # deltas: t2 = 1 - 0.6 = 0.4; t1 = 0.9 * 0.6 - 0.4 = 0.14; t0 = 0.9 * 0.4 - 0.2 = 0.16
    # A2 = 0.4; A1 = 0.14 + 0.72 * 0.4 = 0.428; A0 = 0.16 + 0.72 * 0.428 = 0.46816
    advantages, returns = gae(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.2, 0.4, 0.6]), gamma=0.9, lam=0.8)
    assert advantages.tolist() == pytest.approx([0.46816, 0.428, 0.4])
    assert returns.tolist() == pytest.approx([0.66816, 0.828, 1.0])


def test_gae_on_a_padded_batch_matches_each_episode_alone():
    rewards = torch.tensor([[0.0, 0.5, 1.0], [0.3, -1.0, 0.0]])
    values = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 9.0]])  # the 9.0 is padding and must not leak
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    advantages, returns = gae(rewards, values, 0.9, 0.8, mask)
    alone, alone_returns = gae(rewards[1, :2], values[1, :2], 0.9, 0.8)
    assert advantages[1, :2].tolist() == pytest.approx(alone.tolist())
    assert returns[1, :2].tolist() == pytest.approx(alone_returns.tolist())
    assert advantages[1, 2] == 0 and returns[1, 2] == 0


def test_the_surrogate_inside_and_outside_the_clip_range():
    mask = torch.ones(1)
    ratio = lambda r: torch.log(torch.tensor([r]))  # noqa: E731  (log-probs with old = 0)
    inside, clipped = clipped_surrogate(ratio(1.1), torch.zeros(1), torch.ones(1), 0.2, mask)
    assert inside.item() == pytest.approx(-1.1) and clipped.item() == 0
    outside, clipped = clipped_surrogate(ratio(1.5), torch.zeros(1), torch.ones(1), 0.2, mask)
    assert outside.item() == pytest.approx(-1.2) and clipped.item() == 1  # no credit past 1 + epsilon
    # a bad action made less likely than the clip allows: the pessimistic (clipped) term wins
    pessimistic, clipped = clipped_surrogate(ratio(0.5), torch.zeros(1), -torch.ones(1), 0.2, mask)
    assert pessimistic.item() == pytest.approx(0.8) and clipped.item() == 1


def test_the_value_loss_is_clipped_around_the_old_values():
    loss = clipped_value_loss(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([2.0]), 0.2, torch.ones(1))
    assert loss.item() == pytest.approx(0.5 * (0.2 - 2.0) ** 2)  # the clipped value is still far off


def test_the_kl_estimate_averages_to_the_kl_divergence():
    p, q = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.4, 0.4, 0.2])
    exact = float((p * (p / q).log()).sum())
    samples = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    estimate = kl_estimate(p.log()[samples], q.log()[samples]).mean().item()
    assert estimate == pytest.approx(exact, abs=0.01)


def test_whitening_ignores_padding():
    x, mask = torch.tensor([1.0, 2.0, 3.0, 100.0]), torch.tensor([1, 1, 1, 0])
    white = whiten(x, mask)
    assert white[:3].mean().item() == pytest.approx(0) and white[:3].pow(2).mean().item() == pytest.approx(1, abs=1e-4)
    assert white[3] == 0


def test_the_score_lands_on_the_last_reply_token():
    mask = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 1]], dtype=torch.float32)
    rewards = token_rewards(torch.tensor([1.0, 0.1]), torch.zeros(2, 4), mask, kl_coef=0.03)
    assert rewards.tolist() == [[0, 0, 1.0, 0], [0, 0, 0, pytest.approx(0.1)]]


def test_ppo_raises_the_reward_of_a_one_token_task(small_model, tmp_path):
    """The reward pays for one particular first token, which the model rarely picks at first."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"]))
    conversation = [{"role": "user", "content": "A 70-year-old man with chest pain."}]
    target = rarely_picked_word(model, tokenizer, conversation)

    def pays_for_target(completions, **kwargs):
        return [1.0 if c.strip() == target else 0.0 for c in completions]

    config = PPOConfig(learning_rate=2e-2, batch_size=32, minibatch_size=16, ppo_epochs=2, max_new_tokens=1,
                       kl_coef=0.0)
    log = train_ppo(model, ValueHead(model.config.hidden_size), tokenizer, [conversation] * 4, {}, pays_for_target,
                    config, steps=8, log_path=tmp_path / "log.json", checkpoints=tmp_path / "ckpt")
    first, last = sum(log["reward"][:2]) / 2, sum(log["reward"][-2:]) / 2
    assert last > first + 0.3, log["reward"]
    assert all(math.isfinite(v) for key in ("policy_loss", "value_loss", "kl") for v in log[key])


def test_adapter_dropout_does_not_reach_the_update(small_model, tmp_path):
    """At a learning rate of 0 the policy that updates is the one that sampled: every ratio is 1."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=8, lora_alpha=16, lora_dropout=0.5, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a trained adapter: with B still zero, dropout on A's input changes nothing
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    config = PPOConfig(learning_rate=0.0, value_learning_rate=0.0, batch_size=8, minibatch_size=8, ppo_epochs=1,
                       max_new_tokens=6)
    log = train_ppo(model, ValueHead(model.config.hidden_size), tokenizer, [[{"role": "user", "content": "Hi"}]] * 8,
                    {}, lambda completions, **kw: [float(len(c) % 2) for c in completions], config, steps=1,
                    log_path=tmp_path / "log.json", checkpoints=tmp_path / "ckpt")
    assert log["approx_kl"][0] < 1e-9 and log["clip_fraction"][0] == 0.0, log


def rarely_picked_word(model, tokenizer, conversation) -> str:
    """A plain word the model picks as its first token with probability between 2% and 20%."""
    prompt = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        probs = model(input_ids=ids).logits[0, -1].softmax(-1)
    for token in probs.argsort(descending=True).tolist():
        word = tokenizer.decode([token]).strip()
        if 0.02 < probs[token] < 0.2 and word.isalpha() and tokenizer.decode([token]) == word:
            return word
    pytest.skip("no plain word with a first-token probability of 2-20% in this model")


def test_a_crashed_run_resumes_from_its_last_checkpoint(small_model, tmp_path):
    from peft import LoraConfig, get_peft_model

    tokenizer = AutoTokenizer.from_pretrained(small_model)

    def fresh():
        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                               LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"]))
        return model, ValueHead(model.config.hidden_size)

    calls = []

    def crashes_on_third_step(completions, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated crash")
        return [float(len(c) % 2) for c in completions]

    config = PPOConfig(batch_size=8, minibatch_size=4, ppo_epochs=1, max_new_tokens=4)
    args = dict(tokenizer=tokenizer, conversations=[[{"role": "user", "content": "Hi"}]] * 4, columns={},
                reward_fn=crashes_on_third_step, config=config, steps=4, log_path=tmp_path / "log.json",
                checkpoints=tmp_path / "ckpt", save_every=2)
    with pytest.raises(KeyboardInterrupt):
        train_ppo(*fresh(), **args)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["state-a.pt"]
    log = train_ppo(*fresh(), **args)
    assert log["step"] == [1, 2, 3, 4]  # steps 1-2 from the checkpoint, 3-4 run again
    assert len(calls) == 2 + 1 + 2  # the crash spent one call; the resumed run made only two more
    assert not (tmp_path / "ckpt").exists()

    calls.clear()  # a crash again, then a run with another seed: another run, which starts afresh
    with pytest.raises(KeyboardInterrupt):
        train_ppo(*fresh(), **args)
    assert train_ppo(*fresh(), **{**args, "seed": 1})["step"] == [1, 2, 3, 4]
    assert len(calls) == 3 + 4, "a run with another seed should start afresh, not continue this one's checkpoint"

    calls.clear()  # a crash again, then a run of another length (a smoke test) in the same folder
    with pytest.raises(KeyboardInterrupt):
        train_ppo(*fresh(), **args)
    log = train_ppo(*fresh(), **{**args, "steps": 3})
    assert log["step"] == [1, 2, 3]
    assert len(calls) == 3 + 3, "a 3-step run should start afresh, not continue the 4-step run's checkpoint"


def test_a_resumed_run_draws_the_random_numbers_the_crashed_one_would_have(tmp_path):
    import random

    import numpy as np

    from medlab.ppo import resume, save_checkpoint

    model, value_head = nn.Linear(2, 2), ValueHead(2)
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(value_head.parameters()))
    save_checkpoint(tmp_path, model, value_head, optimizer, step=2, steps=4, log={"step": [1, 2]})
    draws = lambda: (random.random(), float(np.random.rand()), float(torch.rand(1)))  # noqa: E731
    expected = draws()
    draws()  # the crashed run drew on; the resumed one must not start from there
    assert resume(tmp_path, model, value_head, optimizer, steps=4)[0] == 2
    assert draws() == expected


def test_checkpoints_are_written_over_two_files_in_turn_and_a_cut_off_one_is_passed_over(tmp_path):
    """On Google Drive a replaced or deleted file goes to the trash and keeps using the quota:
    saves rewrite two files in place (the same inodes), never rename or delete one."""
    from medlab.ppo import resume, save_checkpoint

    model, value_head = nn.Linear(2, 2), ValueHead(2)
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(value_head.parameters()))
    written = [save_checkpoint(tmp_path, model, value_head, optimizer, step, 10, {"step": list(range(1, step + 1))})
               for step in (2, 4)]
    inodes = {path.name: path.stat().st_ino for path in written}
    for step in (6, 8):
        save_checkpoint(tmp_path, model, value_head, optimizer, step, 10, {"step": list(range(1, step + 1))})
    assert {p.name: p.stat().st_ino for p in tmp_path.iterdir()} == inodes  # two files, rewritten in place
    newest = max(tmp_path.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(newest.read_bytes()[:100])  # a disconnect in the middle of the step-8 save
    assert resume(tmp_path, model, value_head, optimizer, steps=10)[0] == 6


class RunsCode:
    def __reduce__(self):
        return (print, ("a planted checkpoint ran code",))


def test_a_planted_checkpoint_is_refused_not_run(tmp_path, capsys):
    from medlab.ppo import resume

    torch.save({"steps": 4, "step": 2, "payload": RunsCode()}, tmp_path / "state-a.pt")
    model = nn.Linear(2, 2)
    with pytest.raises(pickle.UnpicklingError):
        resume(tmp_path, model, ValueHead(2), torch.optim.AdamW(model.parameters()), steps=4)
    assert "ran code" not in capsys.readouterr().out


def test_the_update_scores_replies_exactly_as_generation_sampled_them(small_model):
    """Left-padded prompts and right-padded replies, with their position ids, must give the
    log-probabilities `generate` sampled from: PPO's ratios are only meaningful if they do."""
    from medlab.generation import render_prompts
    from medlab.ppo import pad_both_sides, policy_forward

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    model = AutoModelForCausalLM.from_pretrained(small_model).eval()
    conversations = [[{"role": "user", "content": text}] for text in ("Chest pain.", "A long history of headaches.")]
    prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in render_prompts(tokenizer, conversations)]
    width = max(map(len, prompts))
    out = model.generate(input_ids=torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts]),
                         attention_mask=torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts]),
                         max_new_tokens=6, min_new_tokens=6, do_sample=True, temperature=0.7, top_k=0,
                         pad_token_id=tokenizer.pad_token_id, return_dict_in_generate=True, output_logits=True)
    replies = out.sequences[:, width:]
    sampled = (torch.stack(out.logits, 1) / 0.7).log_softmax(-1).gather(-1, replies[..., None]).squeeze(-1)
    sequences, attention, mask = pad_both_sides(prompts, replies.tolist(), tokenizer.pad_token_id, "cpu")
    with torch.no_grad():
        logprobs, _, _ = policy_forward(model, None, sequences, attention, mask.shape[1], temperature=0.7)
    assert torch.allclose(logprobs, sampled, atol=1e-4)


# ---- what notebook 05 builds on: the sampler, the probe, the saved policy ------------------------

def test_min_p_of_one_keeps_only_the_likeliest_token(small_model):
    """min_p 1.0 drops every token less likely than the top one: sampling becomes greedy. Fails
    if `Sampling` does not pass min_p on to `generate`."""
    from medlab.generation import Sampling, generate

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    model = AutoModelForCausalLM.from_pretrained(small_model).eval()
    conversations = [[{"role": "user", "content": text}] for text in ("Chest pain.", "Fever and cough.")]
    greedy = generate(model, tokenizer, conversations, Sampling(max_new_tokens=8))
    torch.manual_seed(0)
    cut = generate(model, tokenizer, conversations * 3,
                   Sampling(max_new_tokens=8, do_sample=True, temperature=1.5, min_p=1.0))
    assert cut == greedy * 3
    torch.manual_seed(0)
    uncut = generate(model, tokenizer, conversations * 3, Sampling(max_new_tokens=8, do_sample=True, temperature=1.5))
    assert uncut != greedy * 3  # the check above is not vacuous: hot sampling does differ


def test_sampled_rewards_repeat_with_their_seed_and_leave_the_random_state_alone(small_model):
    from medlab.evaluation import sampled_rewards
    from medlab.generation import Sampling

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    model = AutoModelForCausalLM.from_pretrained(small_model).eval()
    conversations = [[{"role": "user", "content": "Chest pain."}], [{"role": "user", "content": "Headache."}]]
    seen = []

    def length_and_tag(completions, tag, **kwargs):
        seen.append(list(tag))
        return [len(c) + 1000 * t for c, t in zip(completions, tag, strict=True)]

    sampler = Sampling(max_new_tokens=12, do_sample=True, temperature=1.5)
    def draw(seed):
        return sampled_rewards(model, tokenizer, conversations, length_and_tag, {"tag": [1, 2]}, sampler, samples=3,
                               seed=seed)

    state = torch.get_rng_state()
    first = draw(7)
    assert torch.equal(torch.get_rng_state(), state)
    again, other = draw(7), draw(8)
    assert first == again and first != other
    assert seen[0] == [1, 1, 1, 2, 2, 2]  # each conversation's replies side by side, columns repeated to match


def test_only_the_policy_adapter_is_saved_and_it_reloads_as_trained(small_model, tmp_path, scratch_course):
    from peft import LoraConfig, PeftModel, get_peft_model

    from medlab.adapters import AdapterInfo, save_adapter
    from medlab.ppo import load_policy_and_reference
    from medlab.profiles import load_profile

    torch.manual_seed(0)
    get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                   LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], init_lora_weights=False)
                   ).save_pretrained(tmp_path / "sft")
    model = load_policy_and_reference(AutoModelForCausalLM.from_pretrained(small_model), str(tmp_path / "sft"))
    with torch.no_grad():  # training moves the policy away from the reference
        for name, param in model.named_parameters():
            if ".policy." in name:
                param.add_(0.5)
    info = AdapterInfo(name="ppo_test", base_model=str(small_model), tasks=("medqa",), notebook="05_ppo_mcq",
                       method="ppo")
    folder = save_adapter(model, load_profile("tiny"), info, adapter_name="policy")

    assert (folder / "adapter_model.safetensors").exists()
    assert not (folder / "policy").exists() and not (folder / "reference").exists()
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(small_model), str(folder))
    trained = {n.replace(".policy.", "."): p for n, p in model.named_parameters() if ".policy." in n}
    saved = {n.replace(".default.", "."): p for n, p in reloaded.named_parameters() if ".default." in n}
    assert trained.keys() == saved.keys() and trained
    assert all(torch.equal(trained[n], saved[n]) for n in trained)
