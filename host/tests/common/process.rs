//! Processes a test starts: each is killed and reaped on every path (a failed assertion
//! included), and what it wrote to stderr is kept so a failure can say why.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Lines of stderr shown in a failure message.
const TAIL_LINES: usize = 40;

/// Text a background thread copies from a pipe, with a signal for each new chunk.
#[derive(Default)]
struct Captured {
    text: Mutex<CapturedText>,
    grew: Condvar,
}

#[derive(Default)]
struct CapturedText {
    text: String,
    closed: bool,
}

impl Captured {
    /// Copies `pipe` into a new capture on a background thread until the pipe closes.
    fn start(pipe: impl Read + Send + 'static) -> Arc<Captured> {
        let captured = Arc::new(Captured::default());
        let writer = captured.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = String::new();
            loop {
                line.clear();
                let read = reader.read_line(&mut line);
                let mut text = writer.text.lock().unwrap_or_else(PoisonError::into_inner);
                match read {
                    Ok(n) if n > 0 => text.text.push_str(&line),
                    _ => {
                        text.closed = true;
                        writer.grew.notify_all();
                        return;
                    }
                }
                writer.grew.notify_all();
            }
        });
        captured
    }

    fn text(&self) -> String {
        self.text
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .text
            .clone()
    }

    /// Waits until the text contains `needle` `count` times; false if the pipe closed first or
    /// `timeout` passed.
    fn wait_for(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut text = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if text.text.matches(needle).count() >= count {
                return true;
            }
            let now = Instant::now();
            if text.closed || now >= deadline {
                return false;
            }
            text = self
                .grew
                .wait_timeout(text, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A started program, killed (SIGKILL) and reaped when dropped; when a test fails while it
/// runs, the tail of its stderr goes into the test's output.
pub struct Process {
    name: String,
    child: Child,
    stderr: Arc<Captured>,
    status: Option<ExitStatus>,
}

impl Process {
    /// Starts `command` with no stdin and its stderr captured; stdout is as the caller set it.
    pub fn spawn(name: &str, command: &mut Command) -> Process {
        let mut child = command
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let stderr = Captured::start(child.stderr.take().expect("stderr is piped"));
        Process {
            name: name.to_owned(),
            child,
            stderr,
            status: None,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The program's stdout pipe, when it was piped and not yet taken.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Everything the program wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// The exit status, if the program has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Kills the program (SIGKILL) and reaps it; nothing happens if it has exited already.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Waits for the program to exit by itself, for at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("did not exit within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the program has written `needle` to stderr `count` times: the program's own
    /// signal that it reached a point, for a test that must act there.
    pub fn wait_for_stderr(&mut self, needle: &str, count: usize, timeout: Duration) {
        if !self.stderr.wait_for(needle, count, timeout) {
            self.fail(&format!(
                "never wrote {needle:?} {count} time(s) to stderr within {timeout:?}"
            ));
        }
    }

    /// Waits until something accepts connections on `addr`; fails at once if the program
    /// exits first.
    pub fn wait_listening(&mut self, addr: SocketAddr, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            if self.exited().is_some() {
                self.fail(&format!("exited before accepting on {addr}"));
            }
            if Instant::now() >= deadline {
                self.fail(&format!("does not accept on {addr} after {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails the test with `why`, the program's exit status and the tail of its stderr.
    pub fn fail(&mut self, why: &str) -> ! {
        let status = match self.exited() {
            Some(status) => format!("exited: {status}"),
            None => "still running".to_owned(),
        };
        panic!("{} {why} ({status}){}", self.name, self.stderr_tail())
    }

    fn stderr_tail(&self) -> String {
        let text = self.stderr.text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
        if tail.is_empty() {
            "\n--- stderr: (empty)".to_owned()
        } else {
            format!(
                "\n--- stderr of {} (last lines)\n{}",
                self.name,
                tail.join("\n")
            )
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            #[expect(
                clippy::print_stderr,
                reason = "a failing test's output is where its processes' logs belong"
            )]
            {
                eprintln!("{}{}", self.name, self.stderr_tail());
            }
        }
    }
}

/// A `tailor serve` started by a test, with the address it printed; killed and reaped when
/// dropped.
pub struct Node {
    pub process: Process,
    pub addr: SocketAddr,
    stdout: Option<Arc<Captured>>,
}

impl Node {
    /// Starts `command` (a `tailor serve`, stdout piped here) and reads the address from the
    /// first line it prints; if it prints none, the test fails with its exit status and stderr.
    pub fn start(command: &mut Command) -> Node {
        let mut process = Process::spawn("tailor serve", command.stdout(Stdio::piped()));
        let mut stdout = BufReader::new(process.take_stdout().expect("stdout is piped"));
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let addr = first.trim().rsplit("http://").next().unwrap_or("").parse();
        let Ok(addr) = addr else {
            // The node stopped before serving: let it finish writing why.
            let _ = process.wait(Duration::from_secs(10));
            process.fail(&format!("printed no address (first line {first:?})"));
        };
        // Keep draining stdout so the node never blocks on a full pipe.
        let stdout = Some(Captured::start(stdout));
        Node {
            process,
            addr,
            stdout,
        }
    }

    /// Kills the node (SIGKILL: no shutdown, no flush) and reaps it.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// What the node printed on stdout after its address.
    pub fn stdout(&self) -> String {
        self.stdout.as_ref().map(|s| s.text()).unwrap_or_default()
    }
}
