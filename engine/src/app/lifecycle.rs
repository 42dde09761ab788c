//! The app's and the chat's lifecycle (`SimpleXApp`'s scene phases, `AppChatState`,
//! `startChatAndActivate`, `startChatForCall`).

use serde::Serialize;
use tracing::debug;

use super::{App, Ctx};
use crate::io::{LifecycleCommand, LifecycleEvent, Output};

/// The chat's state in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChatState {
    /// Not started in this process: the relay keeps messages and pushes invitations.
    NotStarted,
    /// Starting or activating; [`LifecycleEvent::ChatStarted`] comes next.
    Starting,
    /// Active: messages flow and the app acts on the core's events.
    Active,
    /// Suspended: as not started, until activated again.
    Suspended,
}

/// Whether the app is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scene {
    /// On screen (scene phase `.active`).
    Foreground,
    /// Not on screen.
    Background,
}

/// Why the chat is starting: what runs when it is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    /// The app's launch (`startChat(refreshInvitations: true)`): the invitations are refreshed.
    Launch,
    /// The app came back from the background: refreshed unless a call view shows or CallKit
    /// holds a call.
    Foreground,
    /// A VoIP push (`startChatForCall`): no refresh.
    Push,
}

/// The app's scene phase and its chat's state.
#[derive(Debug, Clone, Copy)]
pub struct ChatLifecycle {
    chat: ChatState,
    scene: Scene,
    starting: Option<Activation>,
}

impl Default for ChatLifecycle {
    fn default() -> Self {
        ChatLifecycle {
            chat: ChatState::NotStarted,
            scene: Scene::Background,
            starting: None,
        }
    }
}

impl ChatLifecycle {
    /// The chat's state.
    pub fn chat(&self) -> ChatState {
        self.chat
    }

    /// The scene phase.
    pub fn scene(&self) -> Scene {
        self.scene
    }
}

impl App {
    pub(crate) fn on_lifecycle(&mut self, cx: &mut Ctx<'_>, event: LifecycleEvent) {
        match event {
            LifecycleEvent::ChatStarted => self.chat_active(cx),
            LifecycleEvent::ChatSuspended => {
                self.lifecycle.chat = ChatState::Suspended;
                self.lifecycle.starting = None;
            }
            LifecycleEvent::AppEnteredBackground => {
                self.lifecycle.scene = Scene::Background;
                self.sync_ringtone(cx);
                // `.background`: the chat keeps running only for a CallKit call (errata A8).
                if cx.config.use_callkit() && self.model.active.is_some() {
                    self.callkit.should_suspend_chat = true;
                } else {
                    self.suspend_chat(cx);
                }
            }
            LifecycleEvent::AppBecameActive => {
                self.lifecycle.scene = Scene::Foreground;
                self.callkit.should_suspend_chat = false;
                self.sync_ringtone(cx);
                if matches!(
                    self.lifecycle.chat,
                    ChatState::NotStarted | ChatState::Suspended
                ) {
                    self.start_chat(cx, Activation::Foreground);
                }
            }
            LifecycleEvent::AppLaunched => {
                self.lifecycle.scene = Scene::Foreground;
                match self.lifecycle.chat {
                    // `initChatAndMigrate` (SimpleXApp `.onAppear`): `startChat` with a refresh.
                    ChatState::NotStarted => self.start_chat(cx, Activation::Launch),
                    // A process a VoIP push started has its chat initialised already, so
                    // `initChatAndMigrate` does nothing; the scene's activation runs as on a
                    // return to the foreground (`startChatAndActivate`).
                    ChatState::Suspended => self.start_chat(cx, Activation::Foreground),
                    ChatState::Starting | ChatState::Active => {}
                }
            }
            // The phone replaces the app of a killed process.
            LifecycleEvent::AppKilled => {}
        }
    }

    /// Starts or activates the chat; while it is starting already, the first start decides
    /// what runs once it is active (a launch's refresh runs, a push's start refreshes nothing).
    fn start_chat(&mut self, cx: &mut Ctx<'_>, why: Activation) {
        if self.lifecycle.chat != ChatState::Starting {
            self.lifecycle.chat = ChatState::Starting;
            self.lifecycle.starting = Some(why);
            cx.emit(Output::Lifecycle(LifecycleCommand::StartChat));
        }
    }

    /// `startChatForCall`: a VoIP push activates the chat if it is not active.
    pub(crate) fn start_chat_for_call(&mut self, cx: &mut Ctx<'_>) {
        if self.lifecycle.chat != ChatState::Active {
            self.start_chat(cx, Activation::Push);
        }
    }

    /// `suspendChat`.
    pub(crate) fn suspend_chat(&mut self, cx: &mut Ctx<'_>) {
        if matches!(self.lifecycle.chat, ChatState::Active | ChatState::Starting) {
            self.lifecycle.chat = ChatState::Suspended;
            self.lifecycle.starting = None;
            cx.emit(Output::Lifecycle(LifecycleCommand::SuspendChat));
        }
    }

    /// The chat is active: its calls were restored from the database (`restoreCalls`, on every
    /// start and activation), and the invitations are refreshed as the activation asks.
    fn chat_active(&mut self, cx: &mut Ctx<'_>) {
        if self.lifecycle.chat == ChatState::Active {
            // Already active: a second report of the same start changes nothing.
            return;
        }
        let why = self.lifecycle.starting.take().unwrap_or(Activation::Launch);
        self.lifecycle.chat = ChatState::Active;
        cx.core.restore_calls();
        let refresh = match why {
            Activation::Launch => true,
            Activation::Foreground => self.view.is_none() && !self.callkit_has_calls(),
            Activation::Push => false,
        };
        debug!(?why, refresh, "chat active");
        if refresh {
            self.refresh_call_invitations(cx);
        }
    }
}
