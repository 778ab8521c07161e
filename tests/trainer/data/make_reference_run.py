"""Writes tests/datasets/reference_run.pt: a short digits run made by the trainer before devices/AMP/DDP."""
import torch
from torch.utils.data import TensorDataset
from enof.datasets import LoadedDataset, load_dataset
from enof.trainer.loop import TrainConfig, train
torch.set_num_threads(1)
d = load_dataset("digits")
tr, te = d.train.tensors, d.test.tensors
small = LoadedDataset(d.spec, TensorDataset(*(t[:256] for t in tr)), TensorDataset(*(t[:100] for t in te)))
import tempfile, pathlib
with tempfile.TemporaryDirectory() as tmp:
    cfg = TrainConfig(dataset="digits", arch="digits_cnn", timesteps=2, epochs=3, teacher_epochs=2, batch_size=32,
                      lr=0.05, seed=7, out=str(pathlib.Path(tmp) / "model.pt"), arch_kwargs={"width": 8})
    r = train(cfg, data=small)
    from enof.trainer.checkpoint import load_checkpoint
    t = load_checkpoint(pathlib.Path(tmp) / "model.teacher.pt")
    torch.save({"snn": r.checkpoint.state_dict, "teacher": t.state_dict,
                "snn_history": r.checkpoint.metrics["history"], "teacher_history": t.metrics["history"]},
               "tests/datasets/reference_run.pt")
    print(r.checkpoint.metrics["history"], t.metrics["history"])
