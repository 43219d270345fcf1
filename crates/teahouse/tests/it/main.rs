//! End-to-end tests over real sockets on 127.0.0.1: the server in-process (testkit) and the
//! real `teahouse` binary. One test binary, to keep link time down.

mod bans;
mod bench;
mod binary;
mod cluster;
mod half_open;
mod history;
mod irc;
mod irc_account;
mod irc_history;
mod irc_kit;
mod irc_labels;
mod irc_mixed;
mod irc_modern;
mod irc_oper;
mod irc_replies;
mod metrics;
mod ordering;
mod pg;
mod real_client;
mod text_chat;
mod text_limits;
mod text_login;
mod tls;
mod web;
mod web_client;
