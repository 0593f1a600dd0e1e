/**
 * The confirmation sheet every action goes through: a modal dialog that says in plain words what
 * will happen, takes what the action needs (a reason, a route), and acts on one tap. On a phone it
 * rises from the bottom, within the thumb's reach; Escape or Cancel closes it without acting.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { explain } from './api.js';

export interface SheetProps {
  title: string;
  /** What will happen, in a sentence or two. */
  children: ComponentChildren;
  /** The confirm button's words: the action itself ("Invoke continuity"). */
  confirm: string;
  /** A destructive or outage-level action: the button is red. */
  danger?: boolean;
  /** False while a required input is empty. */
  ready?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

export function Sheet(props: SheetProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);

  const confirm = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setProblem(null);
    try {
      await props.onConfirm();
      props.onClose();
    } catch (err) {
      setProblem(explain(err));
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialog}
      class="sheet"
      aria-labelledby="sheet-title"
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) props.onClose();
      }}
    >
      <form method="dialog" onSubmit={confirm}>
        <h2 id="sheet-title">{props.title}</h2>
        <div class="sheet-body">{props.children}</div>
        {problem ? (
          <p class="problem" role="alert">
            {problem}
          </p>
        ) : null}
        <div class="sheet-actions">
          <button type="button" class="button" onClick={props.onClose} disabled={busy}>
            Cancel
          </button>
          <button
            type="submit"
            class={`button ${props.danger ? 'danger' : 'primary'}`}
            disabled={busy || props.ready === false}
          >
            {busy ? 'Working…' : props.confirm}
          </button>
        </div>
      </form>
    </dialog>
  );
}
