//! IP prefix tables (longest-prefix match) and named IP lists.
