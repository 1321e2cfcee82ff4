//! herald's black-box tests: the real server on a random port, over a fresh
//! SQLite file or a fresh database in a throwaway PostgreSQL cluster.
//! One binary; each module is one area of behaviour.

mod harness;

mod access;
mod accounts;
mod alerts;
mod cli;
mod errors;
mod lifecycle;
mod monitoring;
mod notifications;
mod performance;
mod pool;
mod realtime;
mod secrets;
mod system;
mod web;
