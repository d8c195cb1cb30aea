"""The MLLM judge: one client for every use (the training reward, data curation, benchmark scoring).

``client`` talks to an OpenAI-compatible server, ``local`` runs a Qwen2.5-VL model in process,
``prompts`` holds the templates, ``parsing`` reads replies strictly, ``cache`` stores every raw
reply, and ``evaluate`` ties them together: a judged case is either scores or a named failure,
never a made-up score.
"""
