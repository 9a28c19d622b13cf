//! Script calls written straight into one command.
//!
//! redis-rs's `ScriptInvocation` keeps every key and argument in a `Vec` of its own, then copies
//! them all into the `EVALSHA` command it sends. A [`ScriptCall`] writes each argument once,
//! into the command itself (on the two calls every message makes, accept and record, ~50
//! arguments each with the payload among them), and loads the script when Redis answers
//! `NOSCRIPT` (after a restart or a failover), as `ScriptInvocation` does.

use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind, ToRedisArgs};

use super::Connection;

/// An `EVALSHA` of `script` with its keys, arguments added one by one.
pub struct ScriptCall<'s> {
    script: &'s Script,
    cmd: Cmd,
}

impl<'s> ScriptCall<'s> {
    /// A call of `script` on `keys` (`KEYS[1..]`, each one key).
    pub fn new<K: ToRedisArgs>(script: &'s Script, keys: &[K]) -> Self {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(keys.len()).arg(keys);
        ScriptCall { script, cmd }
    }

    /// Appends the next `ARGV` value(s).
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Sends the call, loading the script first if Redis does not know it yet.
    pub async fn invoke<T: FromRedisValue>(&self, conn: &mut Connection) -> RedisResult<T> {
        match self.cmd.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.script.load_async(conn).await?;
                self.cmd.query_async(conn).await
            }
            answer => answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_counted_before_the_arguments() {
        let script = Script::new("return 1");
        let mut call = ScriptCall::new(&script, &["k1", "k2"]);
        call.arg("a").arg(7);
        let args: Vec<Vec<u8>> = call
            .cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => b"<cursor>".to_vec(),
            })
            .collect();
        let expected: Vec<&[u8]> = vec![
            b"EVALSHA",
            script.get_hash().as_bytes(),
            b"2",
            b"k1",
            b"k2",
            b"a",
            b"7",
        ];
        assert_eq!(args, expected);
    }
}
