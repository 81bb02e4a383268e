//! The grammar as a state machine: which token each state awaits, and
//! what reading it leads to.

use super::{DecodeError, Decoder, Found, Status};
use crate::nar::grammar::{
    CLOSE, CONTENTS, DIRECTORY, ENTRY, EXECUTABLE, MAGIC, MAX_DEPTH, MAX_NAME_LEN, MAX_TARGET_LEN,
    MAX_TOKEN_LEN, NAME, NODE, OPEN, REGULAR, SYMLINK, TARGET, TYPE, check_name,
};

/// Where in the grammar the decoder is. Most states await one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Magic,
    NodeOpen,
    NodeType,
    NodeKind,
    RegularTag,
    ExecutableValue,
    ContentsTag,
    ContentsLen {
        executable: bool,
    },
    Contents {
        remaining: u64,
        size: u64,
    },
    ContentsPad,
    NodeClose,
    TargetTag,
    Target,
    EntryOrClose,
    EntryOpen,
    EntryNameTag,
    EntryName,
    EntryNodeTag,
    EntryClose,
    /// A node just closed; no input needed to know what comes next.
    AfterNode,
    Done,
}

impl State {
    /// What a token state accepts, for error messages.
    fn expected(self) -> &'static str {
        match self {
            State::Magic => "'nix-archive-1'",
            State::NodeOpen | State::EntryOpen => "'('",
            State::NodeType => "'type'",
            State::NodeKind => "'regular', 'symlink' or 'directory'",
            State::RegularTag => "'executable' or 'contents'",
            State::ExecutableValue => "'' after 'executable'",
            State::ContentsTag => "'contents'",
            State::TargetTag => "'target'",
            State::EntryOrClose => "'entry' or ')'",
            State::EntryNameTag => "'name'",
            State::EntryNodeTag => "'node'",
            State::NodeClose | State::EntryClose => "')'",
            _ => "nothing",
        }
    }
}

/// An event decoded but not yet handed out. Names and targets wait in
/// `Wire::body`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pending {
    Directory,
    Entry,
    EntryEnd,
    Regular { executable: bool, size: u64 },
    Symlink,
    NodeEnd,
}

impl Decoder {
    /// Consumes input until an event is pending or the input is used up.
    pub(super) fn run(&mut self, input: &mut &[u8]) -> Result<Status, DecodeError> {
        loop {
            if self.pending.is_some() {
                return Ok(Status::Ready);
            }
            match self.state {
                State::Done => return Ok(Status::Ready),
                State::AfterNode => {
                    self.state = if self.dirs.is_empty() {
                        State::Done
                    } else {
                        State::EntryClose
                    };
                }
                State::Contents { remaining: 0, size } => {
                    self.wire.begin_padding(size);
                    self.state = State::ContentsPad;
                }
                State::Contents { .. } if input.is_empty() => return Ok(Status::NeedMore(1)),
                State::Contents { .. } => return Ok(Status::Ready),
                State::ContentsPad => {
                    if !self.wire.skip_padding(input)? {
                        return Ok(Status::NeedMore(self.wire.pad_left()));
                    }
                    self.state = State::NodeClose;
                }
                _ if input.is_empty() => return Ok(Status::NeedMore(self.wire.need())),
                State::ContentsLen { executable } => {
                    let Some(size) = self.wire.read_u64(input) else {
                        return Ok(Status::NeedMore(self.wire.need()));
                    };
                    self.pending = Some(Pending::Regular { executable, size });
                    self.state = State::Contents {
                        remaining: size,
                        size,
                    };
                }
                State::Target => {
                    if !self.read_limited(input, MAX_TARGET_LEN, "symlink target")? {
                        return Ok(Status::NeedMore(self.wire.need()));
                    }
                    self.pending = Some(Pending::Symlink);
                    self.state = State::NodeClose;
                }
                State::EntryName => {
                    if !self.read_limited(input, MAX_NAME_LEN, "file name")? {
                        return Ok(Status::NeedMore(self.wire.need()));
                    }
                    self.accept_name()?;
                    self.pending = Some(Pending::Entry);
                    self.state = State::EntryNodeTag;
                }
                state => {
                    let expected = state.expected();
                    let complete = self.wire.read_str(input, MAX_TOKEN_LEN, |offset, len| {
                        DecodeError::Unexpected {
                            offset,
                            expected,
                            found: Found::Length(len),
                        }
                    })?;
                    if !complete {
                        return Ok(Status::NeedMore(self.wire.need()));
                    }
                    self.state = self.on_token(state)?;
                }
            }
        }
    }

    /// Reads a name or target string of at most `limit` bytes.
    fn read_limited(
        &mut self,
        input: &mut &[u8],
        limit: usize,
        what: &'static str,
    ) -> Result<bool, DecodeError> {
        self.wire
            .read_str(input, limit, |offset, len| DecodeError::TooLong {
                offset,
                what,
                len,
                limit,
            })
    }

    /// Checks the entry name in `wire.body` and records it as the last one.
    fn accept_name(&mut self) -> Result<(), DecodeError> {
        let offset = self.wire.start();
        let name = &self.wire.body;
        check_name(name).map_err(|reason| DecodeError::InvalidName {
            offset,
            name: name.clone(),
            reason,
        })?;
        let prev = self
            .dirs
            .last_mut()
            .expect("entry names are read only inside an open directory");
        if name <= prev {
            return Err(DecodeError::Unsorted {
                offset,
                prev: prev.clone(),
                name: name.clone(),
            });
        }
        prev.clear();
        prev.extend_from_slice(name);
        Ok(())
    }

    /// The state after `token` (in `wire.body`) was read in `state`.
    fn on_token(&mut self, state: State) -> Result<State, DecodeError> {
        let next = match (state, self.wire.body.as_slice()) {
            (State::Magic, MAGIC) => State::NodeOpen,
            (State::NodeOpen, OPEN) => State::NodeType,
            (State::NodeType, TYPE) => State::NodeKind,
            (State::NodeKind, REGULAR) => State::RegularTag,
            (State::NodeKind, SYMLINK) => State::TargetTag,
            (State::NodeKind, DIRECTORY) => {
                if self.dirs.len() >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep {
                        offset: self.wire.start(),
                        limit: MAX_DEPTH,
                    });
                }
                self.dirs.push(Vec::new());
                self.pending = Some(Pending::Directory);
                State::EntryOrClose
            }
            (State::RegularTag, EXECUTABLE) => State::ExecutableValue,
            (State::RegularTag, CONTENTS) => State::ContentsLen { executable: false },
            (State::ExecutableValue, b"") => State::ContentsTag,
            (State::ContentsTag, CONTENTS) => State::ContentsLen { executable: true },
            (State::TargetTag, TARGET) => State::Target,
            (State::NodeClose, CLOSE) => {
                self.pending = Some(Pending::NodeEnd);
                State::AfterNode
            }
            (State::EntryOrClose, ENTRY) => State::EntryOpen,
            (State::EntryOrClose, CLOSE) => {
                self.dirs.pop();
                self.pending = Some(Pending::NodeEnd);
                State::AfterNode
            }
            (State::EntryOpen, OPEN) => State::EntryNameTag,
            (State::EntryNameTag, NAME) => State::EntryName,
            (State::EntryNodeTag, NODE) => State::NodeOpen,
            (State::EntryClose, CLOSE) => {
                self.pending = Some(Pending::EntryEnd);
                State::EntryOrClose
            }
            (state, found) => {
                return Err(DecodeError::Unexpected {
                    offset: self.wire.start(),
                    expected: state.expected(),
                    found: Found::Token(found.to_vec()),
                });
            }
        };
        Ok(next)
    }
}
