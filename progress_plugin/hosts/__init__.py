"""Host adapters: the pluggy implementation of the host spec, its manager, the hook reference
and the files a host installs."""
