"""Resuming a fit: the checkpoint a killed fit resumes from, and the random generators it draws from."""

import lightning as L
import pytest
import torch

from forecast.callbacks import RandomStateCheckpoint, ResumableModelCheckpoint


class _ScriptedScores(L.LightningModule):
    """One linear layer; ``val/loss`` is ``scores[epoch]``, and training fails in epoch ``len(scores)``, as a kill."""

    def __init__(self, scores: list[float]):
        super().__init__()
        self.layer, self.scores = torch.nn.Linear(2, 1), scores

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        if self.current_epoch == len(self.scores):
            raise RuntimeError("killed")
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/loss", self.scores[self.current_epoch])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("save_top_k", [1, 0])
def test_last_checkpoint_of_a_killed_fit_holds_its_last_epoch_though_not_the_best(save_top_k, tmp_path):
    """Lightning 2.6 wrote last.ckpt only with a top-k file: stopped in epoch 2 after a best epoch 0, the fit left
    epoch 0's step in it (and none under save_top_k 0), so a resume trained epoch 1 again."""
    checkpoint = ResumableModelCheckpoint(monitor="val/loss", save_top_k=save_top_k, save_last=True)
    trainer = L.Trainer(max_epochs=3, default_root_dir=tmp_path, logger=False, callbacks=[checkpoint],
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
    loader = torch.utils.data.DataLoader(torch.ones(4, 2), batch_size=2)  # two steps an epoch
    with pytest.raises(RuntimeError, match="killed"):
        trainer.fit(_ScriptedScores([1.0, 2.0]), loader, loader)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (1, 4)


class _FakeCUDA:
    """``torch.cuda``'s generator functions on a machine with one GPU per entry of ``states`` (each device's
    generator state, as torch keeps them), in a process on device ``current``; a device the machine lacks fails
    with IndexError, as in torch."""

    def __init__(self, states: list[int], current: int):
        self.states = [torch.tensor([state], dtype=torch.uint8) for state in states]
        self.current = current

    def _index(self, device: int | str) -> int:
        return self.current if device == "cuda" else int(device)

    def get_rng_state(self, device: int | str = "cuda") -> torch.Tensor:
        return self.states[self._index(device)].clone()

    def set_rng_state(self, new_state: torch.Tensor, device: int | str = "cuda") -> None:
        self.states[self._index(device)] = new_state.clone()

    def get_rng_state_all(self) -> list[torch.Tensor]:
        return [self.get_rng_state(index) for index in range(len(self.states))]

    def set_rng_state_all(self, new_states: list[torch.Tensor]) -> None:
        for index, state in enumerate(new_states):
            self.set_rng_state(state, index)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("get_rng_state", "set_rng_state", "get_rng_state_all", "set_rng_state_all"):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: self.current)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: len(self.states))


def _saved_on_rank_zero_of_two_gpus(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The state rank 0 of a two-GPU DDP run saves: it has drawn from its device 0 (state 7); device 1, which
    only rank 1 draws from, is as ``seed_everything`` left it in this process (state 0)."""
    _FakeCUDA([7, 0], current=0).install(monkeypatch)
    return RandomStateCheckpoint().state_dict()


def test_a_two_gpu_run_resumes_on_a_machine_with_one_gpu(monkeypatch):
    """The resume failed with IndexError: the state of every device of the saving machine was set, device 1 too."""
    saved = _saved_on_rank_zero_of_two_gpus(monkeypatch)
    resuming = _FakeCUDA([0], current=0)
    resuming.install(monkeypatch)
    RandomStateCheckpoint().load_state_dict(saved)
    assert resuming.get_rng_state().tolist() == [7]


def test_every_ddp_rank_resumes_from_the_generator_rank_zero_drew_from(monkeypatch):
    """Rank 1 (device 1) got rank 0's unused device 1 generator, still at the run's start: its dropout masks
    after a resume repeated the first epoch's, where a run never stopped draws as rank 0 does."""
    saved = _saved_on_rank_zero_of_two_gpus(monkeypatch)
    rank_one = _FakeCUDA([0, 0], current=1)
    rank_one.install(monkeypatch)
    RandomStateCheckpoint().load_state_dict(saved)
    assert rank_one.get_rng_state().tolist() == [7]


def test_a_checkpoint_keeping_every_gpu_of_the_saving_process_restores_its_first(monkeypatch):
    """Checkpoints written before this kept the generator of every device of rank 0's process (its own first)."""
    _FakeCUDA([0], current=0).install(monkeypatch)
    saved = RandomStateCheckpoint().state_dict()
    saved["cuda"] = [torch.tensor([7], dtype=torch.uint8), torch.tensor([0], dtype=torch.uint8)]
    RandomStateCheckpoint().load_state_dict(saved)
    assert torch.cuda.get_rng_state().tolist() == [7]
