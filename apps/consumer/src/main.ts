import { loadSettingsOrExit, startHttpApp } from '@app/http-platform';
import { ConsumerModule } from './consumer.module';
import { simulatedFailuresEnabled } from './processing/simulated-failure';

async function bootstrap(): Promise<void> {
  const settings = loadSettingsOrExit();
  await startHttpApp(ConsumerModule.forRoot(settings, simulatedFailuresEnabled()), settings, settings.consumerPort, 'consumer');
}

void bootstrap();
