"""Publish an adapter as the reproduced systems published theirs: its folder as the Hub will hold
it (weights, configs, the model card from `medlab.cards`, its figure), built in
`runs/<profile>/publish/<name>/`, and uploaded only when asked.

    python -m medlab.publish grpo_triage_bonus --profile t4 --repo-id YOUR_NAME/esi-triage-grpo
    python -m medlab.publish grpo_triage_bonus --profile t4 --repo-id YOUR_NAME/esi-triage-grpo --push

Without `--push` nothing leaves the machine: read the folder, and the card, first. With it,
`huggingface_hub` creates the repository (private unless `--public`; a repository that exists
already keeps its visibility) and uploads the folder in one `HfApi.upload_folder` call, with
the token `hf auth login` or `HF_TOKEN` gave it; this program never writes a token anywhere.
(The upload is kept to those library calls; its tests stand a fake `HfApi` in the Hub's place.)
When the upload fails (no login, a token without write access, no connection) the folder stays
built and the program says in one line what to do, exiting with status 3.

Refused, in one line that says why: an adapter of a smoke test or of a run cut short; one trained
or evaluated on a learner's credentialed data (DiReCT and MIETIC are under PhysioNet's data use
agreement, and what was learned from them is not to be shared); one without an evaluation (run
notebook 08); and, for `--push`, one whose base model is not on the Hub (the pocket model of `tiny`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from medlab import cards
from medlab.adapters import adapters_dir
from medlab.profiles import Profile, load_profile
from medlab.runlog import runs_dir


class NotPublishable(ValueError):
    """Why an adapter may not be published, in one line."""


def refusal(record: cards.Recorded, push: bool) -> str | None:
    """The reason the adapter of `record` may not be published (None: it may)."""
    info = record.info
    if info.smoke_steps:
        return (f"{info.name} was trained for {info.smoke_steps} steps only (a smoke test or a run cut short): "
                "publish an adapter of a whole run")
    if record.credentialed:
        return (f"{info.name} was trained on {', '.join(record.credentialed)}, credentialed data under PhysioNet's "
                "data use agreement: it may not be shared")
    evaluated_on = record.evaluated_credentialed
    if evaluated_on:
        return (f"{info.name} was evaluated on {', '.join(evaluated_on)}, credentialed data under PhysioNet's data "
                "use agreement: its card would share figures from it")
    if not record.results:
        return f"{info.name} has no evaluation: run notebook 08 first, so its card can say how it does"
    if push and not cards.on_the_hub(info.base_model):
        return (f"{info.name}'s base model {info.base_model!r} is not on the Hub, so no one could load it: "
                "publish an adapter of the t4 or full profile")
    return None


def build_folder(name: str, profile: Profile, repo_id: str | None = None, push: bool = False) -> Path:
    """The folder adapter `name` would be uploaded as, in `runs/<profile>/publish/<name>/`: PEFT's
    weights and config (its base named as on the Hub, not as a local folder), the model card as
    `README.md` and its training curve. Raises `NotPublishable` with the reason it is refused."""
    source = adapters_dir(profile) / name
    if not (source / "adapter_config.json").exists():
        raise NotPublishable(f"no adapter {name!r} in {adapters_dir(profile)}: train it first, or name another")
    record = cards.recorded(source, profile)
    why = refusal(record, push)
    if why:
        raise NotPublishable(why)
    folder = runs_dir(profile.name) / "publish" / name
    shutil.rmtree(folder, ignore_errors=True)  # exactly what will be uploaded, nothing left from before
    folder.mkdir(parents=True)
    shutil.copy2(source / "adapter_model.safetensors", folder)
    config = json.loads((source / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = record.info.base_model  # the Hub's id, not this machine's folder
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    cards.adapter_card(source, profile, repo_id).save(folder / cards.CARD)
    if (source / cards.CURVES).exists():
        shutil.copy2(source / cards.CURVES, folder)
    return folder


def push(folder: Path, repo_id: str, private: bool = True) -> str:
    """Upload `folder` to the Hub as model repository `repo_id` (created private unless `private`
    is False; one that exists keeps its visibility); returns its address."""
    from huggingface_hub import HfApi

    api = HfApi()  # the token from `hf auth login` or HF_TOKEN: read by the library, written nowhere
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                      commit_message="Upload an adapter trained in the medlab course")
    return f"https://huggingface.co/{repo_id}"


def from_the_hub(error: Exception) -> bool:
    """Whether an upload's error is the Hub's or the network's doing, not this program's: an HTTP
    error (the Hub's answers and a failed connection alike), the offline switch, no token, a
    repository id the library refuses, or an error of hf_xet, the transfer library
    `huggingface_hub` uploads through where it is installed (it refuses a token in its own words;
    not imported here, since the course does not depend on it). Anything else is a bug to see in full."""
    from huggingface_hub.errors import HFValidationError, HTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    named = (HTTPError, OfflineModeIsEnabled, LocalTokenNotFoundError, HFValidationError)
    return isinstance(error, named) or type(error).__module__.split(".")[0] == "hf_xet"


def upload_failure(error: Exception) -> str:
    """One line: what went wrong (the library's first line that is not a request id, and the
    Hub's own words where it sent some), then what to do."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.startswith("(Request ID")]
    reason = lines[0] if lines else type(error).__name__
    server = (getattr(error, "server_message", None) or "").strip()
    if server and server not in reason:
        reason += f" ({server})"
    return f"{reason}; {upload_advice(error)}, then run this again"


def upload_advice(error: Exception) -> str:
    """What to do about a failed upload: by the Hub's status code where it answered, else by the
    kind of error (no token, offline, a malformed id, no connection)."""
    from huggingface_hub.errors import HFValidationError, LocalTokenNotFoundError, OfflineModeIsEnabled

    status = getattr(getattr(error, "response", None), "status_code", None)
    refused_token = type(error).__name__ == "XetAuthenticationError"  # hf_xet's (see from_the_hub)
    if isinstance(error, LocalTokenNotFoundError) or status == 401 or refused_token:
        return "log in with `hf auth login` or set HF_TOKEN"
    if status == 403:
        return ("use a token with write access, and a repository id under your own name or an organisation you "
                "can write to")
    if status == 429 or (status or 0) >= 500:
        return f"the Hub is busy or failing (HTTP {status}): wait a few minutes"
    if status is not None:
        return f"the Hub refused the request (HTTP {status}): check the repository id"
    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set: unset it"
    if isinstance(error, HFValidationError):
        return "give the repository id as USER/NAME"
    return "check the connection to the Hub"


def push_command(name: str, profile: Profile) -> str:
    """The command that publishes adapter `name` of `profile`'s run (a repository id to fill in)."""
    return f"python -m medlab.publish {name} --profile {profile.name} --repo-id {cards.repo_placeholder(name)} --push"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", help="an adapter's name, a folder of runs/<profile>/adapters/")
    parser.add_argument("--profile", default="tiny", help="whose run folder holds it (default: tiny)")
    parser.add_argument("--repo-id", help="USER/NAME on the Hub (needed with --push)")
    parser.add_argument("--push", action="store_true", help="upload the folder (without it, only build it)")
    parser.add_argument("--public", action="store_true", help="a public repository (default: private)")
    args = parser.parse_args(argv)
    if args.push and not args.repo_id:
        parser.error("--push needs --repo-id USER/NAME")
    profile = load_profile(args.profile)
    try:
        folder = build_folder(args.adapter, profile, args.repo_id, push=args.push)
    except NotPublishable as why:
        print(f"medlab.publish: not published: {why}", file=sys.stderr)
        return 2
    print(f"built {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")
    if args.push:
        try:
            address = push(folder, args.repo_id, private=not args.public)
        except Exception as error:  # the folder stays built: nothing to redo but the upload
            if not from_the_hub(error):
                raise
            print(f"medlab.publish: not uploaded: {upload_failure(error)}", file=sys.stderr)
            return 3
        print("published:", address)
    else:
        print("nothing uploaded; to publish it:", push_command(args.adapter, profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
