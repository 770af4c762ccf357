"""The live demo (``hrl-autoscaler demo``) and the process plumbing it shares with tests and
the operator benchmark: the emulated data plane and the operator as subprocesses."""
