/** The dashboard shell: skip link, header, what-to-do banner, and the view for the current path. */
import { useEffect } from 'react';
import { AuthBanner } from './components/AuthBanner';
import { Header } from './components/Header';
import { Notice } from './components/ui';
import { Link, parseRoute, paths, usePathname } from './lib/router';
import { FirmwareView } from './views/FirmwareView';
import { FleetView } from './views/FleetView';
import { LogView } from './views/LogView';
import { VehicleView } from './views/VehicleView';

const TITLES = { fleet: 'Fleet', log: 'Diagnostic log', firmware: 'Firmware & jobs', notFound: 'Not found' } as const;

function View() {
  const route = parseRoute(usePathname());
  const title = route.name === 'vehicle' ? route.id : TITLES[route.name];
  useEffect(() => {
    document.title = `${title} · OTA Service Manager`;
  }, [title]);
  switch (route.name) {
    case 'fleet':
      return <FleetView />;
    case 'vehicle':
      return <VehicleView key={route.id} id={route.id} />;
    case 'log':
      return <LogView />;
    case 'firmware':
      return <FirmwareView />;
    default:
      return (
        <Notice tone="warn" title="No such page">
          Nothing lives at <code className="mono">{route.path}</code>. <Link to={paths.fleet}>Go to the fleet</Link>
        </Notice>
      );
  }
}

export function App() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        <AuthBanner />
        <View />
      </main>
      <footer className="footer muted small">OTA Service Manager · talks to this manager's API at {location.origin}/api/v1</footer>
    </>
  );
}
