"""Reference generators, discriminator and attribute classifier of the StyleGAN paper."""
