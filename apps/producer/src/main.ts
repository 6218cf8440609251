import { loadSettingsOrExit, startHttpApp } from '@app/messaging';
import { ProducerModule } from './producer.module';

async function bootstrap(): Promise<void> {
  const settings = loadSettingsOrExit();
  await startHttpApp(ProducerModule.forRoot(settings), settings, settings.producerPort, 'producer');
}

void bootstrap();
