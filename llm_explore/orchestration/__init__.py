"""Orchestration: start, resume and evaluate a run by method name.

The layer between the CLI and the methods. It looks a method up in the registry, resolves the
config, creates the run folder and the envs, and hands the method's shaper to the learner (or calls
the method's own runner). Data flows one way: CLI -> orchestration -> methods -> learner -> LLM/envs;
the learner never imports the method registry.
"""
