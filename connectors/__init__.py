"""Provider clients and dump readers: provider JSON in, normalized board out."""
