import { exitOnStartFailure, loadSettingsOrExit, startHttpApp } from '@app/http-platform';
import { startTracing } from '@app/messaging/tracing';
import { ConsumerModule } from './consumer.module';
import { simulatedFailuresEnabled } from './processing/simulated-failure';

async function bootstrap(): Promise<void> {
  // Before Nest, so the SDK is registered when the first span starts (off unless an OTLP endpoint is set).
  const tracing = await startTracing('consumer');
  const settings = loadSettingsOrExit();
  await startHttpApp(ConsumerModule.forRoot(settings, simulatedFailuresEnabled()), settings, settings.consumerPort, 'consumer', (app) =>
    tracing.instrument(app),
  );
}

bootstrap().catch(exitOnStartFailure);
