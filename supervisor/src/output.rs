//! TEMPORARY stand-in until the real output module lands.
#![allow(missing_docs)]
use std::os::fd::OwnedFd;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Source { pub process: Arc<str>, pub instance_id: Arc<str> }
impl Source {
    pub fn new(process: &str, instance_id: &str) -> Source { Source { process: process.into(), instance_id: instance_id.into() } }
    pub fn hook(process: &str, name: &str, _stage: &str) -> Source { Source::new(process, name) }
}
#[derive(Clone, Copy, Debug)]
pub enum Stream { Stdout, Stderr }
#[derive(Clone)]
pub struct OutputHandle;
impl OutputHandle {
    pub fn capture(&self, source: Source, stream: Stream, fd: OwnedFd) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let Ok(pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else { return };
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("{{\"process\":\"{}\",\"instance_id\":\"{}\",\"stream\":\"{:?}\",\"msg\":{:?}}}", source.process, source.instance_id, stream, line);
            }
        })
    }
}
