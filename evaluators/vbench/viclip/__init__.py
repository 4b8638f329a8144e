"""ViCLIP (InternVid), the video-text model of VBench's overall_consistency: model, official checkpoint, tokenizer."""
