import { loadSettingsOrExit, startHttpApp } from '@app/http-platform';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ProducerModule } from './producer.module';

async function bootstrap(): Promise<void> {
  const settings = loadSettingsOrExit();
  await startHttpApp(ProducerModule.forRoot(settings), settings, settings.producerPort, 'producer', (app) => {
    const document = new DocumentBuilder()
      .setTitle('Producer')
      .setDescription('Accepts messages and publishes them to RabbitMQ with broker confirms, or stores them for replay.')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }, 'api-key')
      .build();
    SwaggerModule.setup('docs', app, SwaggerModule.createDocument(app, document));
  });
}

void bootstrap();
