"""The terminal dashboard (Textual). Nothing outside `engmon.tui` imports it.

- `app.EngmonApp` / `app.run_dashboard`: one poll worker per source, the store, the render tick;
- `viewmodel.compute_view`: everything on screen, computed in one place (headless);
- `messages`: what the session's listener posts upward (`SourceStatusChanged`, …);
- `keys.DASHBOARD_KEYS`: every key, feeding bindings, Footer, command palette and help;
- `screens/`, `widgets/`: layout and formatting only.
"""
