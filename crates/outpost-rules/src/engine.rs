//! Rule phases and actions.
