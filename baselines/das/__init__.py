"""DiffusionAsShader (IGL-HKUST, weights EXCAI/Diffusion-As-Shader): CogVideoX-5B I2V + a tracking-video branch."""
