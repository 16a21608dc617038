// Message actions by mouse and by keyboard: the buttons drawn on each message (render.ts gives them a
// `data-action`) and the keys of a focused message. The arrow keys move between messages (from the
// message list, Up picks the newest), R opens the reaction picker, E edits one's own message, Delete
// deletes it (pressed twice: the first press only arms the button), Escape goes back to the message box.
// This file only translates input into intents; app.ts decides what they do.
import { ui } from './view.js';

export interface ActionHandlers {
  picker(seq: number | undefined): void;
  react(seq: number, emoji: string, on: boolean): void;
  edit(seq: number): void;
  del(seq: number): void;
  /** Whether message `seq` is the user's own (and so may be edited or deleted). */
  own(seq: number): boolean;
}

function seqOf(node: Element | null): number | undefined {
  const li = node?.closest<HTMLElement>('.msg');
  const seq = Number(li?.dataset.seq);
  return li && Number.isInteger(seq) ? seq : undefined;
}

function messageNodes(): HTMLElement[] {
  return [...ui.log.querySelectorAll<HTMLElement>('.msg')];
}

function focusMessage(li: HTMLElement | undefined): void {
  if (!li) return;
  li.focus({ preventScroll: true });
  li.scrollIntoView({ block: 'nearest' });
}

export function bindMessageActions(h: ActionHandlers): void {
  ui.log.addEventListener('click', (e) => {
    const target = e.target instanceof Element ? e.target.closest<HTMLElement>('[data-action]') : null;
    const seq = seqOf(target);
    if (!target || seq === undefined) return;
    const emoji = target.dataset.emoji ?? '';
    switch (target.dataset.action) {
      case 'picker':
        return h.picker(seq);
      case 'pick':
        h.picker(undefined);
        h.react(seq, emoji, true);
        return;
      case 'react':
        return h.react(seq, emoji, true);
      case 'unreact':
        return h.react(seq, emoji, false);
      case 'edit':
        return h.edit(seq);
      case 'delete':
        return h.del(seq);
    }
  });

  ui.scroller.addEventListener('keydown', (e) => {
    // From the list itself, Up picks the newest message; Page keys keep scrolling as before.
    if (e.target !== ui.scroller || e.key !== 'ArrowUp') return;
    e.preventDefault();
    focusMessage(messageNodes().at(-1));
  });

  ui.log.addEventListener('keydown', (e) => {
    const el = e.target instanceof HTMLElement ? e.target : null;
    const seq = seqOf(el);
    if (!el || seq === undefined) return;
    if (el.classList.contains('pick')) return pickerKeys(e, el, seq, h);
    if (!el.classList.contains('msg')) return;
    const all = messageNodes();
    const i = all.indexOf(el);
    switch (e.key) {
      case 'ArrowUp':
        e.preventDefault();
        focusMessage(all[Math.max(0, i - 1)]);
        return;
      case 'ArrowDown':
        e.preventDefault();
        if (i === all.length - 1) ui.input.focus();
        else focusMessage(all[i + 1]);
        return;
      case 'Home':
        e.preventDefault();
        focusMessage(all[0]);
        return;
      case 'End':
        e.preventDefault();
        focusMessage(all.at(-1));
        return;
      case 'Escape':
        e.preventDefault();
        ui.input.focus();
        return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key === 'r' || key === '+') {
      e.preventDefault();
      h.picker(seq);
    } else if (key === 'e' && h.own(seq)) {
      e.preventDefault();
      h.edit(seq);
    } else if ((e.key === 'Delete' || e.key === 'Backspace') && h.own(seq)) {
      e.preventDefault();
      h.del(seq);
    }
  });
}

function pickerKeys(e: KeyboardEvent, el: HTMLElement, seq: number, h: ActionHandlers): void {
  const picks = [...(el.parentElement?.querySelectorAll<HTMLElement>('.pick') ?? [])];
  const i = picks.indexOf(el);
  if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
    e.preventDefault();
    picks[(i + (e.key === 'ArrowRight' ? 1 : picks.length - 1)) % picks.length]?.focus();
  } else if (e.key === 'Escape') {
    e.preventDefault();
    h.picker(undefined);
    ui.log.querySelector<HTMLElement>(`.msg[data-seq="${seq}"]`)?.focus();
  }
}

/** After the picker is drawn on message `seq`: its first emoji takes the focus. */
export function focusPicker(seq: number): void {
  ui.log.querySelector<HTMLElement>(`.msg[data-seq="${seq}"] .pick`)?.focus();
}
