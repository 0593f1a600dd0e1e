/**
 * A page loaded when it is first opened: the status and event pages an admin lands on at night
 * come with the console's first script, and the pages for planned work (staff notices, replay,
 * drills, settings) in chunks of their own, so they add nothing to that first load.
 */
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export function lazyView<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  return function LazyView(props: P) {
    const [View, setView] = useState<ComponentType<P> | null>(() => loaded);
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      if (View) return;
      load().then(
        (v) => {
          loaded = v;
          setView(() => v);
        },
        () => setFailed(true),
      );
    }, []);
    if (View) return <View {...props} />;
    return failed ? (
      <p class="problem" role="alert">
        This page could not be loaded. Check the connection and reload.
      </p>
    ) : (
      <p class="loading">Loading…</p>
    );
  };
}
