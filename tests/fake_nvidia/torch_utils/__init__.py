"""Empty stand-in for stylegan2-ada-pytorch's torch_utils (their networks import it)."""
