"""Training citewire's extractive reader: a tool beside the runtime reader, never imported by it.

``python -m rag.reader_training`` (``make reader``) trains the reader from the packaged MiniLM on
``../shared/train``, checkpointing outside the work tree so that a stopped run resumes where it
stopped, then evaluates, exports to ONNX and (with ``--install``) installs it in
``rag/reader/model/``. The modules, each with one job:

* :mod:`.recipe`: every choice that shapes the model;
* :mod:`.data`: the training questions, streamed from their files, and the run's batch plan;
* :mod:`.network`: the PyTorch module (MiniLM + span and answerability heads) and its loss;
* :mod:`.loop`: the seeded training loop with its time budget;
* :mod:`.checkpoint`: saving and resuming a run's full state;
* :mod:`.export`: ONNX export, int8 and fp16 copies;
* :mod:`.evaluate`: SQuAD 2.0 metrics on the dev questions;
* :mod:`.traps`: questions made unanswerable by swapping one term (a second-stage experiment);
* :mod:`.card`: the model card, written from the run's report (both stages' for a second stage);
* :mod:`.cli`: the command line (``make reader`` runs it twice: the main run, then a second stage).
"""
