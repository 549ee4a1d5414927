"""One reader's lab: the session (model, trainer, prompt, trace, clock) and the engine
handle it runs the model through, shipped or edited. Views read it; nothing here draws."""
